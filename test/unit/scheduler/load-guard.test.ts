import { expect } from 'chai';
import type { Endpoint } from '../../../src/datastore/endpoint.js';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { DEFAULT_SATURATION, endpointSaturated, fleetSaturated, queueNow } from '../../../src/scheduler/fairness/saturation.js';
import { overloaded } from '../../../src/scheduler/plugins/load-guard.js';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const req = (promptText = 'hi', requestId = 'r'): SchedulingRequest => ({
  requestId,
  model: 'm',
  promptText,
  headers: new Map(),
  group: 'g',
});
const make = (name: string, args = {}): Plugin => pluginFactory(name)!(args);
const SYSTEM = 'You are a careful assistant. '.repeat(600); // ~17 KB, a 4k-token system prompt

/** Sends `n` requests sharing SYSTEM through a scheduler; each pick adds one running request. Returns pick counts. */
function burst(scores: Array<{ name: string; weight: number }>, n: number, fleet: Endpoint[], pluginConfig: unknown[] = []): number[] {
  const s = new Scheduler(parseSchedulerConfig({ pluginConfig, plugins: { Score: { enabled: scores } } }), seeded(11));
  for (let i = 0; i < n; i++) {
    const r = req(SYSTEM + `question ${i}`, `r${i}`);
    const ep = s.schedule(r, fleet).ranked[0]!;
    s.picked(r, ep);
    ep.state.metrics!.running++;
  }
  return fleet.map((e) => e.state.metrics!.running).sort((a, b) => b - a);
}
const fleetOf = (n: number) => Array.from({ length: n }, (_, i) => endpoint(`10.0.3.${i + 1}:8000`));

describe('saturation', () => {
  it('is a full queue or a full KV cache; stale metrics are unknown', () => {
    expect(endpointSaturated(endpoint('10.0.0.1:1', { waiting: 5 }))).to.equal(true);
    expect(endpointSaturated(endpoint('10.0.0.1:1', { kvCacheUsage: 0.95 }))).to.equal(true);
    expect(endpointSaturated(endpoint('10.0.0.1:1', { waiting: 4, kvCacheUsage: 0.5 }))).to.equal(false);
    expect(endpointSaturated(endpoint('10.0.0.1:1', { waiting: 2 }), { queueDepth: 2, kvCacheUsage: 1 })).to.equal(true);
    const stale = endpoint('10.0.0.1:1', { waiting: 50 });
    stale.state.stale = true;
    expect(endpointSaturated(stale)).to.equal(undefined);
  });

  it('counts unscraped picks as queued once the engine queues', () => {
    expect(queueNow(endpoint('10.0.0.1:1', { waiting: 0 }, { picksSinceScrape: 9 }))).to.equal(0);
    expect(queueNow(endpoint('10.0.0.1:1', { waiting: 2 }, { picksSinceScrape: 3 }))).to.equal(5);
  });

  it('calls the fleet saturated only when every endpoint with fresh metrics is', () => {
    const full = endpoint('10.0.0.1:1', { waiting: 9 });
    const ok = endpoint('10.0.0.2:1', { waiting: 0 });
    const stale = endpoint('10.0.0.3:1');
    stale.state.stale = true;
    expect(fleetSaturated([full, ok])).to.equal(false);
    expect(fleetSaturated([full, stale])).to.equal(true);
    expect(fleetSaturated([stale])).to.equal(false);
    expect(fleetSaturated([])).to.equal(false);
  });
});

describe('load-guard', () => {
  it('filters overloaded endpoints unless all are', () => {
    const p = make('load-guard', { queueDepthThreshold: 3 });
    const a = endpoint('10.0.0.1:1', { waiting: 3 });
    const b = endpoint('10.0.0.2:1', { kvCacheUsage: 0.95 });
    const c = endpoint('10.0.0.3:1');
    expect(p.filter!(req(), [a, b, c])).to.deep.equal([c]);
    expect(p.filter!(req(), [a, b])).to.deep.equal([a, b]);
  });

  it('does not call a queue overload while total loads are even (chunked prefill queues everywhere)', () => {
    const p = make('load-guard');
    const queued = [1, 2, 3].map((i) => endpoint(`10.0.0.${i}:1`, { running: 1, waiting: 11 }));
    const running = endpoint('10.0.0.4:1', { running: 12, waiting: 0 });
    expect(p.filter!(req(), [...queued, running])).to.have.length(4);
    expect(overloaded([...queued, running], DEFAULT_SATURATION)).to.deep.equal([false, false, false, false]);
    running.state.metrics!.running = 4; // now the queued ones also carry 8 more in total
    expect(overloaded([...queued, running], DEFAULT_SATURATION)).to.deep.equal([true, true, true, false]);
  });

  it('measures queues and loads per unit of GPU capacity', () => {
    const fast = endpoint('10.0.0.1:1', { running: 4, waiting: 8 }, { labels: { 'kthena.io/gpu-capacity': '2' } });
    const slow = endpoint('10.0.0.2:1', { running: 2, waiting: 2 }, { labels: { 'kthena.io/gpu-capacity': '1' } });
    // Raw: queue 8 vs 2 and load 12 vs 4, both 5 or more apart. Per capacity: 4 vs 2 and 6 vs 4.
    expect(overloaded([fast, slow], DEFAULT_SATURATION)).to.deep.equal([true, false]);
    expect(overloaded([fast, slow], DEFAULT_SATURATION, [2, 1])).to.deep.equal([false, false]);
    expect(make('load-guard').filter!(req(), [fast, slow])).to.deep.equal([fast, slow]);
    expect(make('load-guard', { gpuAware: false }).filter!(req(), [fast, slow])).to.deep.equal([slow]);
    // Relative capacities 4/3 and 2/3: loads 9 and 6, 3 apart at 100 / 8 each.
    expect(make('load-guard').score!(req(), [fast, slow])).to.deep.equal([62.5, 100]);
    slow.state.metrics!.waiting = 0;
    fast.state.metrics!.waiting = 20; // queue 15 vs 0 per capacity: overloaded even so
    expect(make('load-guard').filter!(req(), [fast, slow])).to.deep.equal([slow]);
  });

  it('scores load above the least-loaded endpoint in absolute steps, overloaded endpoints 0', () => {
    const p = make('load-guard', { maxExcessLoad: 4 });
    const eps = [endpoint('10.0.0.1:1', { running: 2 }), endpoint('10.0.0.2:1', { running: 3 }), endpoint('10.0.0.3:1', { running: 9 })];
    expect(p.score!(req(), eps)).to.deep.equal([100, 75, 0]);
    const over = endpoint('10.0.0.4:1', { running: 2, waiting: 9 });
    expect(make('load-guard').score!(req(), [endpoint('10.0.0.5:1', { running: 5 }), over])).to.deep.equal([100, 0]);
  });

  it('validates its args', () => {
    expect(() => make('load-guard', { kvCacheThreshold: 2 })).to.throw(/kvCacheThreshold/);
    expect(() => make('load-guard', { maxExcessLoad: 0 })).to.throw(/maxExcessLoad/);
  });

  it('lets prefix affinity spill over: prefix-cache + least-request piles onto one pod, load-guard bounds it', () => {
    // Min-max least-request is worth at most 100 × 1, a full prefix match 100 × 2: the holder always wins.
    const piled = burst([{ name: 'prefix-cache', weight: 2 }, { name: 'least-request', weight: 1 }], 24, fleetOf(4));
    expect(piled[0]).to.equal(24);
    // Full match worth 100 × 1, each request of excess 100 / 8 × 2: the holder leads by at most 4.
    const guarded = burst([{ name: 'prefix-cache', weight: 1 }, { name: 'load-guard', weight: 2 }], 24, fleetOf(4));
    expect(guarded[0]! - guarded[3]!).to.be.at.most(5);
    expect(guarded[0]).to.be.below(24);
  });
});

describe('prefix-load', () => {
  it('credits the cached prefix in units of queued requests, capped by maxCredit; scores absolute steps', () => {
    const p = make('prefix-load', { charsPerLoadUnit: 1000, maxCredit: 4 });
    const [a, b] = [endpoint('10.0.0.1:1', { running: 3 }), endpoint('10.0.0.2:1', { running: 0 })];
    p.onPicked!(req('x'.repeat(2000)), a);
    // cost = load + 1 + 2 (prompt) − credit: a 3 + 1 + 2 − 2 = 4, b 0 + 1 + 2 = 3; one unit = 100 / 8.
    expect(p.score!(req('x'.repeat(2000)), [a, b])).to.deep.equal([87.5, 100]);
    a.state.metrics!.running = 1; // a: 2 < b: 3
    expect(p.score!(req('x'.repeat(2000)), [a, b])).to.deep.equal([100, 87.5]);
    p.onPicked!(req('x'.repeat(8192)), a);
    a.state.metrics!.running = 4; // credit capped at 4: a 4 + 1 + 8.192 − 4 = b 0 + 1 + 8.192
    expect(p.score!(req('x'.repeat(8192)), [a, b])).to.deep.equal([100, 100]);
  });

  it('gives endpoints about to run out of KV cache no credit; queue overload only when configured', () => {
    const a = endpoint('10.0.0.1:1', { running: 1, waiting: 9 });
    const b = endpoint('10.0.0.2:1', { running: 3 });
    const p = make('prefix-load');
    p.onPicked!(req(SYSTEM), a);
    // SYSTEM is ~17 load units of prefill: a costs 10 + 1 + 17 − 17 = 11, b 3 + 1 + 17 = 21.
    expect(p.score!(req(SYSTEM), [a, b])).to.deep.equal([100, 0]);
    a.state.metrics!.kvCacheUsage = 0.9; // no credit: 28 vs 21
    expect(p.score!(req(SYSTEM), [a, b])).to.deep.equal([12.5, 100]);
    a.state.metrics!.kvCacheUsage = 0.5;
    const q = make('prefix-load', { queueDepthThreshold: 5 });
    q.onPicked!(req(SYSTEM), a);
    expect(q.score!(req(SYSTEM), [a, b])).to.deep.equal([12.5, 100]);
  });

  it('balances like least-request on short prompts', () => {
    const p = make('prefix-load');
    const lr = make('least-request');
    const eps = [endpoint('10.0.0.1:1', { running: 2 }), endpoint('10.0.0.2:1', { running: 5 }), endpoint('10.0.0.3:1', { running: 3 })];
    p.onPicked!(req('What is the capital of France?'), eps[1]!);
    const short = req('What is the capital of France?');
    const rank = (scores: number[]) => scores.map((s, i) => [s, i] as const).sort((x, y) => y[0] - x[0]).map(([, i]) => i);
    expect(rank(p.score!(short, eps))).to.deep.equal(rank(lr.score!(short, eps)));
    expect(rank(p.score!(short, eps))).to.deep.equal([0, 2, 1]);
  });

  it('prefers the faster GPU in proportion to its speed', () => {
    const p = make('prefix-load');
    const fast = endpoint('10.0.0.1:1', { running: 5 }, { labels: { 'kthena.io/gpu-capacity': '2' } });
    const slow = endpoint('10.0.0.2:1', { running: 2 }, { labels: { 'kthena.io/gpu-capacity': '1' } });
    // Relative capacities 4/3 and 2/3: (5 + 1) / (4/3) = 4.5 < (2 + 1) / (2/3) = 4.5 + 0: a tie at twice the load.
    expect(p.score!(req('hi'), [fast, slow]).map(Math.round)).to.deep.equal([100, 100]);
    slow.state.metrics!.running = 1;
    expect(p.score!(req('hi'), [fast, slow])[0]).to.be.below(100);
    expect(make('prefix-load', { gpuAware: false }).score!(req('hi'), [fast, slow])[1]).to.equal(100);
  });

  it('can match on token blocks (matcher: tokens) and validates its args', async () => {
    const p = make('prefix-load', { matcher: 'tokens' });
    const [a, b] = [endpoint('10.0.0.1:1', { running: 2 }), endpoint('10.0.0.2:1', { running: 0 })];
    p.score!(req(SYSTEM), [a, b]); // the model's tokenizer loads in the background
    await new Promise((r) => setImmediate(r));
    p.onPicked!(req(SYSTEM), a);
    expect(p.score!(req(SYSTEM), [a, b])).to.deep.equal([100, 0]); // a: 2 + 1 + P − 17, b: 0 + 1 + P
    expect(() => make('prefix-load', { matcher: 'bytes' })).to.throw(/matcher/);
    expect(() => make('prefix-load', { maxCredit: -1 })).to.throw(/maxCredit/);
  });

  it('keeps a hot prefix on one pod until it carries maxCredit more, then replicates it', () => {
    const counts = burst([{ name: 'prefix-load', weight: 1 }], 40, fleetOf(4), [{ name: 'prefix-load', args: { maxCredit: 8 } }]);
    // With maxCredit 8: the first holder takes ~9 before a second pod starts; then holders share the load.
    expect(counts[0]).to.be.within(9, 20);
    expect(counts.filter((n) => n > 0).length).to.be.at.least(2);
    expect(counts.reduce((x, y) => x + y)).to.equal(40);
  });

  it('routes distinct prefixes to distinct pods and keeps each prefix home', () => {
    const s = new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['prefix-load'] } } }), seeded(2));
    const fleet = fleetOf(4);
    const homes = new Map<number, Set<string>>();
    for (let i = 0; i < 40; i++) {
      const g = i % 4;
      const r = req(`system prompt ${g} `.repeat(1000) + ` question ${i}`, `r${i}`);
      const ep = s.schedule(r, fleet).ranked[0]!;
      s.picked(r, ep);
      ep.state.metrics!.running++;
      if (!homes.has(g)) homes.set(g, new Set());
      homes.get(g)!.add(ep.address);
    }
    for (const h of homes.values()) expect(h.size).to.equal(1);
    expect(new Set([...homes.values()].map((h) => [...h][0])).size).to.equal(4);
  });
});
