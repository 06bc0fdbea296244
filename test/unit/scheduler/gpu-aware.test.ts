import { expect } from 'chai';
import type { Endpoint } from '../../../src/datastore/endpoint.js';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const req: SchedulingRequest = { requestId: 'r', model: 'm', promptText: '', headers: new Map(), group: 'g' };
const make = (args = {}): Plugin => pluginFactory('gpu-aware')!(args);

/** A new scrape of an endpoint's metrics, at `at` ms (default: 1 ms after the last one). */
function scrape(e: Endpoint, running: number, tokensPerSecond: number, at = e.state.updatedAt + 1): void {
  e.state.metrics = { ...e.state.metrics!, running, generationTokensPerSecond: tokensPerSecond };
  e.state.updatedAt = at;
}

describe('gpu-aware', () => {
  it('divides load by the capacity label, so the faster GPU wins at equal load', () => {
    const fast = endpoint('10.0.0.1:1', { running: 4 }, { labels: { 'kthena.io/gpu-capacity': '2' } });
    const slow = endpoint('10.0.0.2:1', { running: 4 }, { labels: { 'kthena.io/gpu-capacity': '1' } });
    expect(make().score!(req, [fast, slow])).to.deep.equal([100, 0]);
    // At twice the load the fast GPU is as busy as the slow one: (8+1)/2 vs (4+1)/1.
    fast.state.metrics!.running = 8;
    const [f, s] = make().score!(req, [fast, slow]);
    expect(f).to.equal(100);
    expect(s).to.be.closeTo(0, 1e-9);
  });

  it('maps GPU types to speeds, and gives unknown pods the median capacity', () => {
    const labels = (t: string) => ({ labels: { 'nvidia.com/gpu.product': t } });
    const h100 = endpoint('10.0.0.1:1', { running: 6 }, labels('H100'));
    const a100 = endpoint('10.0.0.2:1', { running: 2 }, labels('A100'));
    const other = endpoint('10.0.0.3:1', { running: 2 }, labels('T4'));
    const p = make({ gpuSpeeds: { H100: 3, A100: 1 } });
    // Loads per capacity: 7/3, 3/1, 3/2 (median of 1 and 3).
    const scores = p.score!(req, [h100, a100, other]);
    expect(scores[2]).to.equal(100);
    expect(scores[1]).to.equal(0);
    expect(scores[0]).to.be.within(40, 50);
    expect(() => make({ gpuSpeeds: { H100: 0 } })).to.throw(/gpuSpeeds/);
  });

  it('learns capacity from tokens/s per running sequence, once per scrape, when learn is on', () => {
    const p = make({ learn: true });
    const fast = endpoint('10.0.0.1:1', { running: 0 });
    const slow = endpoint('10.0.0.2:1', { running: 0 });
    // A 2x faster GPU: per sequence, twice the tokens/s, even though it ran more sequences.
    scrape(fast, 8, 800);
    scrape(slow, 2, 100);
    p.score!(req, [fast, slow]);
    fast.state.metrics!.running = 3;
    slow.state.metrics!.running = 2;
    // (3+1)/100 < (2+1)/50: the fast pod is preferred despite its higher load.
    expect(p.score!(req, [fast, slow])).to.deep.equal([100, 0]);
    // Learning is off by default: both count as equal capacity and the lower load wins.
    expect(make().score!(req, [fast, slow])).to.deep.equal([0, 100]);
  });

  it('tracks the peak: rises at once, decays with a half-life whatever the scrape rate', () => {
    const p = make({ learn: true, riseRate: 1, decayHalfLifeSeconds: 10 });
    const a = endpoint('10.0.0.1:1');
    const b = endpoint('10.0.0.2:1');
    scrape(a, 1, 100, 1000);
    scrape(b, 1, 60, 1000);
    p.score!(req, [a, b]);
    for (let t = 1100; t <= 2000; t += 100) {
      scrape(a, 1, 40, t); // ten slow scrapes within one second: 100 → ~96, still above b
      scrape(b, 1, 60, t);
      p.score!(req, [a, b]);
    }
    a.state.metrics!.running = 0;
    b.state.metrics!.running = 0;
    expect(p.score!(req, [a, b])).to.deep.equal([100, 0]);
    scrape(a, 1, 40, 100_000); // 98 s later: the old peak has decayed away
    scrape(b, 1, 60, 100_000);
    p.score!(req, [a, b]);
    a.state.metrics!.running = 0;
    b.state.metrics!.running = 0;
    expect(p.score!(req, [a, b])).to.deep.equal([0, 100]);
  });

  it('sends a faster GPU proportionally more work under the scheduler', () => {
    const s = new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['gpu-aware'] } } }), seeded(5));
    const fast = endpoint('10.0.0.1:1', {}, { labels: { 'kthena.io/gpu-capacity': '3' } });
    const slow = endpoint('10.0.0.2:1', {}, { labels: { 'kthena.io/gpu-capacity': '1' } });
    for (let i = 0; i < 40; i++) s.schedule(req, [fast, slow]).ranked[0]!.state.metrics!.running++;
    expect(fast.state.metrics!.running).to.equal(30);
    expect(slow.state.metrics!.running).to.equal(10);
  });
});
