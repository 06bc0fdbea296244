import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { Redis } from 'ioredis';
import { kvcacheAware } from '../../../src/scheduler/plugins/kvcache-aware.js';
import { SharedBlockOwners, type SharedBlocksOptions } from '../../../src/scheduler/prefix/shared-blocks.js';
import { TokenPrefixMatcher } from '../../../src/scheduler/prefix/token-matcher.js';
import { lazyEncoders, prefixTokens, type Encode } from '../../../src/scheduler/prefix/tokens.js';
import type { SchedulingRequest } from '../../../src/scheduler/types.js';
import { tokenize } from '../../../src/tokenizer/index.js';
import { endpoint } from '../../support/builders.js';

const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const encode: Encode = (t) => tokenize(MODEL, t);
const request = (promptText: string, extra: Partial<SchedulingRequest> = {}): SchedulingRequest => ({
  requestId: 'r',
  model: MODEL,
  promptText,
  headers: new Map(),
  group: 'server:default/llama',
  ...extra,
});

const SYSTEM =
  'You are a meticulous assistant for a logistics company. Answer questions about shipments, customs rules and ' +
  'delivery windows. Always cite the relevant policy section, use metric units, and keep answers under 200 words. ' +
  'If the question is about hazardous goods, remind the user of the ADR regulations and the required paperwork. ';

function words(seed: number, n: number): string {
  const vocab = ['parcel', 'route', 'depot', 'invoice', 'pallet', 'border', 'truck', 'window', 'label', 'fee'];
  let s = '';
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    s += ` ${vocab[x % vocab.length]}${x % 7 === 0 ? '.' : ''}`;
  }
  return s;
}

describe('kvcache-aware', () => {
  describe('prefixTokens', () => {
    it('gives the same tokens as tokenizing the whole text, chunk boundaries included', () => {
      const t = SYSTEM.repeat(8) + words(1, 400) + '\n\n  indented   spaces and 12345 digits';
      expect(prefixTokens(encode, t, Infinity, 50)).to.deep.equal({ tokens: encode(t), chars: t.length });
    });

    it('stops once it has enough tokens, and they are the text’s first tokens', () => {
      const t = SYSTEM.repeat(40);
      const all = encode(t);
      const { tokens, chars } = prefixTokens(encode, t, 64, 100);
      expect(tokens.length).to.be.at.least(64).and.below(all.length);
      expect(tokens.slice(0, 64)).to.deep.equal(all.slice(0, 64));
      expect(tokens).to.deep.equal(encode(t.slice(0, chars)));
    });

    it('loads encoders off the decision path', async () => {
      const encoderFor = lazyEncoders();
      expect(encoderFor(MODEL)).to.equal(undefined);
      await new Promise((r) => setImmediate(r));
      expect(encoderFor(MODEL)!('hello world')).to.deep.equal(encode('hello world'));
    });
  });

  describe('token block matching', () => {
    const blocks = (text: string) => Math.floor(encode(text).length / 16);

    it('scores the fraction of leading 16-token blocks an endpoint holds', () => {
      const m = new TokenPrefixMatcher({ blockSizeToHash: 16, maxBlocksToMatch: 128, defaultBlocksPerEndpoint: 1000, encoderFor: () => encode });
      const [a, b] = [endpoint('10.0.0.1:8000'), endpoint('10.0.0.2:8000')];
      const first = request(SYSTEM + words(2, 80));
      m.picked(first, a);
      const second = request(SYSTEM + words(3, 80));
      const shared = Math.floor(sharedTokens(encode(first.promptText), encode(second.promptText)) / 16);
      const [fa, fb] = m.fractions(second, [a, b]);
      expect(fa).to.be.closeTo(shared / blocks(second.promptText), 1e-9);
      expect(shared).to.be.greaterThan(0);
      expect(fb).to.equal(0);
      expect(m.fractions(request(first.promptText), [a, b])).to.deep.equal([1, 0]);
    });

    it('bounds each endpoint by its KV capacity (num_gpu_blocks), keeping the prefix head', () => {
      const m = new TokenPrefixMatcher({ blockSizeToHash: 16, maxBlocksToMatch: 128, defaultBlocksPerEndpoint: 1000, encoderFor: () => encode });
      const small = endpoint('10.0.0.3:8000', { numGpuBlocks: 2, blockSize: 32 }); // 64 tokens = 4 of our blocks
      const r = request(SYSTEM + words(4, 200));
      const n = blocks(r.promptText);
      m.picked(r, small);
      expect(m.blocks(small.address)).to.equal(4);
      expect(m.fractions(request(r.promptText), [small])[0]).to.be.closeTo(4 / n, 1e-9);
    });

    it('counts a long prompt’s unhashed tail against capacity, evicting tails before heads', () => {
      const m = new TokenPrefixMatcher({ blockSizeToHash: 16, maxBlocksToMatch: 4, defaultBlocksPerEndpoint: 1000, encoderFor: () => encode });
      const big = endpoint('10.0.0.4:8000');
      const small = endpoint('10.0.0.5:8000', { numGpuBlocks: 10, blockSize: 16 });
      const r = request(SYSTEM.repeat(6));
      const total = Math.floor(encode(r.promptText).length / 16);
      m.picked(r, big);
      expect(m.blocks(big.address)).to.be.within(total - 2, total + 2); // 4 hashed blocks + the estimated tail
      const r2 = request(SYSTEM.repeat(6));
      m.picked(r2, small);
      m.served(r2, small);
      // The whole prompt does not fit in 10 blocks: the last hashed block and the tail it stands for go first.
      expect(m.blocks(small.address)).to.equal(3);
      expect(m.fractions(request(r.promptText), [big, small])).to.deep.equal([1, 0.75]);
    });

    it('matches nothing while the tokenizer is loading, and moves claims like prefix-cache', () => {
      let ready = false;
      const m = new TokenPrefixMatcher({
        blockSizeToHash: 16,
        maxBlocksToMatch: 128,
        defaultBlocksPerEndpoint: 1000,
        encoderFor: () => (ready ? encode : undefined),
      });
      const [a, b] = [endpoint('10.0.0.1:8000'), endpoint('10.0.0.2:8000')];
      const early = request(SYSTEM);
      expect(m.fractions(early, [a, b])).to.deep.equal([0, 0]);
      m.picked(early, a); // no tokens: nothing recorded
      ready = true;
      expect(m.fractions(request(SYSTEM), [a, b])).to.deep.equal([0, 0]);
      const r = request(SYSTEM);
      m.picked(r, a);
      m.served(r, b);
      expect(m.fractions(request(SYSTEM), [a, b])).to.deep.equal([0, 1]);
      m.completed(r, b, 'error');
      expect(m.fractions(request(SYSTEM), [a, b])).to.deep.equal([0, 0]);
      m.picked(request(SYSTEM), a);
      m.removed([a.address]);
      expect(m.fractions(request(SYSTEM), [a, b])).to.deep.equal([0, 0]);
    });
  });

  describe('shared index in Redis', function () {
    this.timeout(15_000);
    let server: ChildProcess;
    let port: number;
    const clients: Redis[] = [];
    const closers: Array<() => Promise<unknown>> = [];
    const options = (over: Partial<SharedBlocksOptions> = {}): SharedBlocksOptions => ({
      keyPrefix: 'test:kv:',
      ttlSeconds: 60,
      refreshMs: 0,
      flushMs: 5,
      maxCachedBlocks: 1000,
      maxPending: 1000,
      ...over,
    });
    const client = async () => {
      const c = new Redis({ host: '127.0.0.1', port, lazyConnect: true });
      clients.push(c);
      await c.connect();
      return c;
    };

    before(async () => {
      port = await freePort();
      server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.stdout!.on('data', (d: Buffer) => d.toString().includes('Ready to accept connections') && resolve());
      });
    });

    after(async () => {
      for (const close of closers) await close().catch(() => undefined);
      for (const c of clients) c.disconnect();
      server?.kill();
    });

    it('lets a second router replica see the first one’s picks, without waiting on Redis to decide', async () => {
      const [ca, cb] = [await client(), await client()];
      const sa = new SharedBlockOwners(ca, options());
      const sb = new SharedBlockOwners(cb, options());
      closers.push(() => sa.close(), () => sb.close());
      const matcher = (shared: SharedBlockOwners) =>
        new TokenPrefixMatcher({ blockSizeToHash: 16, maxBlocksToMatch: 128, defaultBlocksPerEndpoint: 1000, encoderFor: () => encode, shared });
      const [ma, mb] = [matcher(sa), matcher(sb)];
      const [x, y] = [endpoint('10.0.0.7:8000'), endpoint('10.0.0.8:8000')];
      ma.picked(request(SYSTEM + words(5, 50)), x);
      await sa.flush();
      // Replica B has never read these blocks: it decides at once with what it knows, and reads in the background.
      expect(mb.fractions(request(SYSTEM), [x, y])).to.deep.equal([0, 0]);
      await sb.flush();
      const [fx, fy] = mb.fractions(request(SYSTEM), [x, y]);
      expect(fx).to.equal(1);
      expect(fy).to.equal(0);
      const keys = await ca.keys('test:kv:*');
      expect(keys.length).to.equal(Math.floor(encode(SYSTEM + words(5, 50)).length / 16));
      expect(keys[0]).to.match(new RegExp(`^test:kv:${MODEL.replace(/[.]/g, '\\.')}@\\d+$`));
      const ttl = await ca.ttl(keys[0]!);
      expect(ttl).to.be.within(1, 60);
      expect(await ca.hkeys(keys[0]!)).to.deep.equal([x.address]);
    });

    it('ignores ownership older than ttlSeconds', async () => {
      const c = await client();
      let now = Date.now();
      const s = new SharedBlockOwners(c, options({ keyPrefix: 'test:ttl:', ttlSeconds: 5 }), () => now);
      closers.push(() => s.close());
      s.record([42], 'm', '10.0.0.9:8000');
      await s.flush();
      s.owners(42, 'm');
      await s.flush();
      expect([...s.owners(42, 'm')!]).to.deep.equal(['10.0.0.9:8000']);
      now += 10_000;
      expect(s.owners(42, 'm')).to.equal(undefined); // the cached answer is too old to trust
      await s.flush();
      expect(s.owners(42, 'm')!.size).to.equal(0); // Redis still has the field, but its timestamp is too old
    });

    it('works end to end through the plugin args, and keeps deciding locally when Redis is down', async () => {
      const pa = kvcacheAware({ redis: { address: `127.0.0.1:${port}`, flushMs: 5, refreshMs: 5, keyPrefix: 'test:e2e:' } }, { encoderFor: () => encode });
      const pb = kvcacheAware({ redis: { address: `127.0.0.1:${port}`, flushMs: 5, refreshMs: 5, keyPrefix: 'test:e2e:' } }, { encoderFor: () => encode });
      closers.push(() => pa.close(), () => pb.close());
      const [x, y] = [endpoint('10.0.0.7:8000'), endpoint('10.0.0.8:8000')];
      pa.onPicked!(request(SYSTEM), y);
      await until(async () => pb.score!(request(SYSTEM), [x, y])[1] === 100);

      const down = kvcacheAware({ redis: { address: `127.0.0.1:${await freePort()}` } }, { encoderFor: () => encode });
      const r = request(SYSTEM);
      expect(down.score!(r, [x, y])).to.deep.equal([0, 0]);
      down.onPicked!(r, x);
      expect(down.score!(request(SYSTEM), [x, y])).to.deep.equal([100, 0]);
      await down.close();
    });

    it('rejects a bad redis address', () => {
      expect(() => kvcacheAware({ redis: { address: 'nohost' } })).to.throw(/redis.address/);
    });
  });
});

function sharedTokens(a: number[], b: number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function until(check: () => boolean | Promise<boolean>, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
