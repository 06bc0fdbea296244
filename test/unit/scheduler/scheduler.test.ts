import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError, DEFAULT_SCHEDULER, parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { NoEndpointError, Scheduler } from '../../../src/scheduler/scheduler.js';
import type { SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const req: SchedulingRequest = { requestId: 'r', model: 'm', promptText: 'hi', headers: new Map(), group: 'server:default/x' };

describe('scheduler framework', () => {
  it('parses Kthena scheduler configuration', () => {
    const c = parseSchedulerConfig({
      pluginConfig: [{ name: 'least-request', args: { maxWaitingRequests: 3 } }],
      plugins: {
        Filter: { enabled: ['least-request', 'lora-affinity'], disabled: ['lora-affinity'] },
        Score: { enabled: [{ name: 'least-request', weight: 2 }, { name: 'random', weight: 1 }] },
      },
    });
    expect(c.filters).to.deep.equal(['least-request']);
    expect(c.scores).to.deep.equal([
      { name: 'least-request', weight: 2 },
      { name: 'random', weight: 1 },
    ]);
    expect(c.args.get('least-request')).to.deep.equal({ maxWaitingRequests: 3 });
    expect(c.topN).to.equal(5);
  });

  it('has the benchmark\'s "ours" policy as its built-in default, as the demo\'s config spells it out', () => {
    for (const file of ['bench/configs/ours.yaml', 'examples/router-config.yaml']) {
      const config = parse(readFileSync(new URL(`../../../${file}`, import.meta.url), 'utf8'));
      expect(parseSchedulerConfig(config.scheduler), file).to.deep.equal(DEFAULT_SCHEDULER);
    }
  });

  it('rejects bad configuration with clear errors', () => {
    expect(() => parseSchedulerConfig({ plugins: { Score: { enabled: [] } } })).to.throw(ConfigError, /at least one/);
    expect(() => parseSchedulerConfig({ plugins: { Score: { enabled: [{ name: 'x', weight: -1 }] } } })).to.throw(/>= 0/);
    expect(() => new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['nope'] } } }))).to.throw(
      /unknown scheduler plugin "nope"/,
    );
    expect(() =>
      new Scheduler(parseSchedulerConfig({ plugins: { Filter: { enabled: ['gpu-usage'] }, Score: { enabled: ['random'] } } })),
    ).to.throw(/cannot filter/);
  });

  it('ranks by weighted score and returns topN as primary + fallbacks', () => {
    const s = new Scheduler(DEFAULT_SCHEDULER, seeded(1));
    const eps = [
      endpoint('10.0.0.1:8000', { running: 9, waiting: 0, kvCacheUsage: 0.9 }),
      endpoint('10.0.0.2:8000', { running: 0, waiting: 0, kvCacheUsage: 0.1 }),
      endpoint('10.0.0.3:8000', { running: 5, waiting: 0, kvCacheUsage: 0.5 }),
    ];
    const ranked = s.schedule(req, eps).ranked.map((e) => e.address);
    expect(ranked).to.deep.equal(['10.0.0.2:8000', '10.0.0.3:8000', '10.0.0.1:8000']);
  });

  it('caps the list at topN and picks among 1,000 endpoints', () => {
    const s = new Scheduler({ ...DEFAULT_SCHEDULER, topN: 3 });
    const eps = Array.from({ length: 1000 }, (_, i) => endpoint(`10.1.${i >> 8}.${i & 255}:8000`, { running: 1000 - i }));
    const ranked = s.schedule(req, eps).ranked;
    expect(ranked.map((e) => e.state.metrics!.running)).to.deep.equal([1, 2, 3]);
  });

  it('breaks ties randomly, not by list order', () => {
    const s = new Scheduler(DEFAULT_SCHEDULER, seeded(42));
    const eps = [endpoint('10.0.0.1:1'), endpoint('10.0.0.2:1'), endpoint('10.0.0.3:1')];
    const firsts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const a = s.schedule(req, eps).ranked[0]!.address;
      firsts.set(a, (firsts.get(a) ?? 0) + 1);
    }
    expect(firsts.size).to.equal(3);
    for (const n of firsts.values()) expect(n).to.be.within(800, 1200);
  });

  it('fails with NoEndpointError on an empty candidate list', () => {
    expect(() => new Scheduler(DEFAULT_SCHEDULER).schedule(req, [])).to.throw(NoEndpointError);
  });

  it('calls lifecycle hooks of plugins', () => {
    const s = new Scheduler(DEFAULT_SCHEDULER);
    const ep = endpoint('10.0.0.1:1');
    expect(() => {
      s.picked(req, ep);
      s.served(req, ep);
      s.completed(req, ep, 'success');
      s.endpointsRemoved([ep.address]);
    }).not.to.throw();
  });
});
