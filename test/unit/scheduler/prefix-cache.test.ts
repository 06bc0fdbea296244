import { expect } from 'chai';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import { chainRoot, charBlockHashes, hashChars, tokenBlockHashes } from '../../../src/scheduler/prefix/hash.js';
import { PrefixIndex } from '../../../src/scheduler/prefix/prefix-index.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const request = (promptText: string, extra: Partial<SchedulingRequest> = {}): SchedulingRequest => ({
  requestId: 'r',
  model: 'm',
  promptText,
  headers: new Map(),
  group: 'server:default/llama',
  ...extra,
});

function text(seed: number, length: number): string {
  const rnd = seeded(seed);
  let s = '';
  while (s.length < length) s += String.fromCharCode(97 + Math.floor(rnd() * 26)) + (rnd() < 0.2 ? ' ' : '');
  return s.slice(0, length);
}

describe('prefix hashing', () => {
  it('chains blocks: prompts share exactly the hashes of their common whole blocks', () => {
    const root = chainRoot('g', 'm');
    const a = charBlockHashes('aaaabbbbccccdd', 4, 10, root);
    const b = charBlockHashes('aaaabbbbcccXdd', 4, 10, root);
    expect(a).to.have.length(4); // the last block is partial
    expect(b.slice(0, 2)).to.deep.equal(a.slice(0, 2));
    expect(b[2]).to.not.equal(a[2]);
    // Once a block differs, every later hash differs although the later text is equal.
    expect(b[3]).to.not.equal(a[3]);
    expect(charBlockHashes('aaaabbbbccccdd', 4, 2, root)).to.deep.equal(a.slice(0, 2));
  });

  it('seeds the chain with group and model, so they never share entries', () => {
    const t = 'the same system prompt';
    const base = charBlockHashes(t, 8, 10, chainRoot('g', 'm'));
    expect(charBlockHashes(t, 8, 10, chainRoot('g', 'other'))[0]).to.not.equal(base[0]);
    expect(charBlockHashes(t, 8, 10, chainRoot('g2', 'm'))[0]).to.not.equal(base[0]);
  });

  it('produces distinct 53-bit safe integers', () => {
    const seen = new Set<number>();
    const windows = new Set<string>();
    const s = text(1, 100_000);
    let safe = true;
    for (let i = 0; i + 8 <= s.length; i += 2) {
      const h = hashChars(s, i, i + 8, 0);
      safe &&= Number.isSafeInteger(h) && h >= 0;
      seen.add(h);
      windows.add(s.slice(i, i + 8));
    }
    expect(safe).to.equal(true);
    expect(seen.size).to.equal(windows.size);
  });

  it('hashes full token blocks only', () => {
    const root = chainRoot('g', 'm');
    expect(tokenBlockHashes([1, 2, 3, 4, 5, 6, 7], 3, 10, root)).to.have.length(2);
    expect(tokenBlockHashes([1, 2, 3, 4, 5, 6], 3, 10, root)[1]).to.not.equal(tokenBlockHashes([1, 2, 3, 4, 5, 7], 3, 10, root)[1]);
  });

  it('hashes a 100 KB prompt in a few milliseconds', () => {
    const s = text(2, 100_000);
    const root = chainRoot('g', 'm');
    const times: number[] = [];
    for (let i = 0; i < 7; i++) {
      const t0 = performance.now();
      const h = charBlockHashes(s, 64, 10_000, root);
      times.push(performance.now() - t0);
      expect(h).to.have.length(Math.ceil(100_000 / 64));
    }
    times.sort((a, b) => a - b);
    expect(times[3]).to.be.below(20); // typically ~0.3 ms; the bound only catches a pathological regression
  });
});

describe('PrefixIndex', () => {
  const ids = (n: number, from = 0) => Array.from({ length: n }, (_, i) => 1000 + from + i);

  it('matches the leading run of blocks per candidate', () => {
    const idx = new PrefixIndex(100);
    idx.add(ids(5), 'a');
    idx.add(ids(2), 'b');
    idx.add(ids(5, 1), 'c'); // misses block 0: holds no prefix of this prompt
    const m = idx.match(ids(8));
    expect([...m].sort()).to.deep.equal([
      ['a', 5],
      ['b', 2],
    ]);
  });

  it('stays within capacity and evicts the tail of a prefix before its head', () => {
    const idx = new PrefixIndex(4);
    idx.add(ids(3), 'a');
    idx.add(ids(3, 100), 'b');
    expect(idx.size).to.equal(4);
    // a's blocks 1 and 2 went first; its head block survives, so a still matches one block.
    expect(idx.match(ids(3)).get('a')).to.equal(1);
    expect(idx.match(ids(3, 100)).get('b')).to.equal(3);
  });

  it('reports new claims, retracts them and forgets removed endpoints', () => {
    const idx = new PrefixIndex(100);
    idx.add(ids(2), 'a');
    const added = idx.add(ids(4), 'a');
    expect(added.sort()).to.deep.equal(ids(2, 2));
    idx.retract(added, 'a');
    expect(idx.match(ids(4)).get('a')).to.equal(2);
    idx.add(ids(4), 'b');
    idx.removeEndpoints(['a']);
    expect([...idx.match(ids(4))]).to.deep.equal([['b', 4]]);
    idx.removeEndpoints(['b']);
    expect(idx.size).to.equal(0);
  });
});

describe('prefix-cache plugin', () => {
  const make = (args = {}): Plugin => pluginFactory('prefix-cache')!(args);
  const eps = () => [endpoint('10.0.0.1:8000'), endpoint('10.0.0.2:8000'), endpoint('10.0.0.3:8000')];
  const system = text(3, 640); // 10 blocks of 64

  it('scores the matched prefix fraction after a pick, per group and model', () => {
    const p = make();
    const [a, b, c] = eps();
    const first = request(system + text(4, 640));
    expect(p.score!(first, [a!, b!, c!])).to.deep.equal([0, 0, 0]);
    p.onPicked!(first, b!);
    const second = request(system + text(5, 640)); // shares the 10 system blocks out of 20
    expect(p.score!(second, [a!, b!, c!])).to.deep.equal([0, 50, 0]);
    expect(p.score!(request(first.promptText), [a!, b!, c!])).to.deep.equal([0, 100, 0]);
    expect(p.score!(request(second.promptText, { model: 'other' }), [a!, b!, c!])).to.deep.equal([0, 0, 0]);
    expect(p.score!(request(second.promptText, { group: 'server:default/other' }), [a!, b!, c!])).to.deep.equal([0, 0, 0]);
  });

  it('moves the claim to the endpoint that served, and drops it when the request failed', () => {
    const p = make();
    const [a, b, c] = eps();
    const r = request(system);
    p.onPicked!(r, a!);
    p.onServed!(r, c!);
    expect(p.score!(request(system), [a!, b!, c!])).to.deep.equal([0, 0, 100]);
    const r2 = request(system + text(6, 64));
    p.onPicked!(r2, b!);
    p.onComplete!(r2, b!, 'error');
    // b's claim on the shared system blocks is gone too: this request created it.
    expect(p.score!(request(system), [a!, b!, c!])).to.deep.equal([0, 0, 100]);
    p.onComplete!(r, c!, 'success');
    expect(p.score!(request(system), [a!, b!, c!])).to.deep.equal([0, 0, 100]);
  });

  it('forgets endpoints that are removed', () => {
    const p = make();
    const [a, b] = eps();
    p.onPicked!(request(system), a!);
    p.onEndpointsRemoved!([a!.address]);
    expect(p.score!(request(system), [a!, b!])).to.deep.equal([0, 0]);
  });

  it('honours blockSizeToHash, maxBlocksToMatch and topKMatches', () => {
    const p = make({ blockSizeToHash: 10, maxBlocksToMatch: 4, topKMatches: 2 });
    const all = [...eps(), endpoint('10.0.0.4:8000')];
    const prompts = [30, 20, 10, 40].map((n) => system.slice(0, n));
    all.forEach((e, i) => p.onPicked!(request(prompts[i]!), e));
    // 4 blocks hashed of the 640 chars; matches 3, 2, 1, 4 blocks; only the 2 best score.
    expect(p.score!(request(system), all)).to.deep.equal([75, 0, 0, 100]);
  });

  it('validates its args', () => {
    expect(() => make({ blockSizeToHash: 0 })).to.throw(/blockSizeToHash/);
    expect(() => make({ maxHashCacheSize: 'many' })).to.throw(/maxHashCacheSize/);
  });

  it('keeps requests of one prefix together under the scheduler, and spreads distinct prefixes', () => {
    const s = new Scheduler(
      parseSchedulerConfig({
        plugins: { Score: { enabled: [{ name: 'prefix-cache', weight: 2 }, { name: 'least-request', weight: 1 }] } },
      }),
      seeded(7),
    );
    const fleet = [endpoint('10.0.1.1:8000'), endpoint('10.0.1.2:8000'), endpoint('10.0.1.3:8000')];
    const homes = new Map<number, Set<string>>();
    for (let i = 0; i < 30; i++) {
      const group = i % 3;
      const r = request(text(100 + group, 2000) + text(1000 + i, 100), { requestId: `r${i}` });
      const ep = s.schedule(r, fleet).ranked[0]!;
      s.picked(r, ep);
      ep.state.metrics!.running++;
      if (!homes.has(group)) homes.set(group, new Set());
      homes.get(group)!.add(ep.address);
    }
    for (const set of homes.values()) expect(set.size).to.equal(1);
    expect(new Set([...homes.values()].map((s) => [...s][0])).size).to.equal(3);
  });
});
