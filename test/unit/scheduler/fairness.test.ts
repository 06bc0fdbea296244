import { expect } from 'chai';
import { flowOf } from '../../../src/scheduler/fairness/flow-key.js';
import { FlowController, REFUSALS, type Admission, type AdmitRequest } from '../../../src/scheduler/fairness/flow-controller.js';
import { fleetSaturated } from '../../../src/scheduler/fairness/saturation.js';
import { endpoint } from '../../support/builders.js';

describe('fairness', () => {
  let saturated: boolean;
  const controllers: FlowController[] = [];
  const make = (o: Partial<ConstructorParameters<typeof FlowController>[0]> = {}) => {
    const fc = new FlowController({ isSaturated: () => saturated, ...o });
    controllers.push(fc);
    return fc;
  };
  /** Queues requests and records the order in which they are admitted. */
  const enqueue = (fc: FlowController, reqs: AdmitRequest[], order: string[]) =>
    reqs.map((r, i) =>
      fc.admit(r).then((a) => {
        if (a.admitted) order.push(`${r.flowId}${i}`);
        return a;
      }),
    );

  beforeEach(() => (saturated = false));
  afterEach(() => controllers.splice(0).forEach((fc) => fc.close()));

  it('admits at once while not saturated, with nothing queued', async () => {
    const fc = make();
    const a = await fc.admit({ flowId: 'u', priority: 0 });
    expect(a.admitted).to.equal(true);
    expect(fc.queued).to.equal(0);
    if (a.admitted) a.done();
  });

  it('sheds sheddable requests (priority < 0) with 429 under saturation', async () => {
    saturated = true;
    const a = await make().admit({ flowId: 'u', priority: -1 });
    expect(a).to.deep.include({ admitted: false, status: 429, reason: 'rejected-saturated' });
  });

  it('holds requests under saturation and releases them by priority, then weighted-fair across flows', async () => {
    saturated = true;
    const fc = make({ flowWeight: (f) => (f === 'a' ? 2 : 1), pollIntervalMs: 5 });
    const order: string[] = [];
    const reqs: AdmitRequest[] = [
      ...Array.from({ length: 6 }, () => ({ flowId: 'a', priority: 0 })),
      ...Array.from({ length: 3 }, () => ({ flowId: 'b', priority: 0 })),
      { flowId: 'vip', priority: 5 },
    ];
    const done = enqueue(fc, reqs, order);
    await new Promise((r) => setTimeout(r, 20));
    expect(order).to.deep.equal([]);
    expect(fc.queued).to.equal(10);
    saturated = false;
    await Promise.all(done);
    // vip first; then a gets two turns for each of b's.
    expect(order).to.deep.equal(['vip9', 'a0', 'a1', 'b6', 'a2', 'a3', 'b7', 'a4', 'a5', 'b8']);
  });

  it('does not starve a light flow behind a heavy one', async () => {
    saturated = true;
    const fc = make({ pollIntervalMs: 5 });
    const order: string[] = [];
    const heavy = enqueue(fc, Array.from({ length: 50 }, () => ({ flowId: 'heavy', priority: 0 })), order);
    const light = fc.admit({ flowId: 'light', priority: 0 }).then((a) => (order.push('light'), a));
    saturated = false;
    await Promise.all([...heavy, light]);
    expect(order.indexOf('light')).to.be.at.most(2);
  });

  it('refuses requests held longer than maxQueueTimeMs', async () => {
    saturated = true;
    const a = await make({ maxQueueTimeMs: 30, pollIntervalMs: 5 }).admit({ flowId: 'u', priority: 0 });
    expect(a).to.deep.include({ admitted: false, status: 429, reason: 'rejected-ttl-expired' });
  });

  it('bounds the queue: evicts from the longest flow when fairer, else refuses the newcomer', async () => {
    saturated = true;
    const fc = make({ maxQueueSize: 2 });
    const a = [fc.admit({ flowId: 'a', priority: 0 }), fc.admit({ flowId: 'a', priority: 0 })];
    const b = fc.admit({ flowId: 'b', priority: 0 });
    expect(await a[1]).to.deep.include({ admitted: false, status: 429, reason: 'rejected-saturated', message: REFUSALS.evicted.message });
    expect(await fc.admit({ flowId: 'a', priority: 0 })).to.deep.include({ admitted: false, status: 429, reason: 'rejected-saturated', message: REFUSALS.queueFull.message });
    expect(await fc.admit({ flowId: 'c', priority: 0 })).to.deep.include({ admitted: false, reason: 'rejected-saturated', message: REFUSALS.queueFull.message });
    const vip = fc.admit({ flowId: 'c', priority: 3 }); // a lower band makes room
    expect(fc.queued).to.equal(2);
    saturated = false;
    const results = await Promise.all([a[0]!, b, vip]);
    expect(results.filter((r) => r.admitted)).to.have.length(2);
  });

  it('removes a request whose client went away', async () => {
    saturated = true;
    const fc = make();
    const ac = new AbortController();
    const p = fc.admit({ flowId: 'u', priority: 0, signal: ac.signal });
    expect(fc.queued).to.equal(1);
    ac.abort();
    expect(await p).to.deep.include({ admitted: false, status: 503, reason: 'rejected-context-cancelled' });
    expect(fc.queued).to.equal(0);
    expect(await fc.admit({ flowId: 'u', priority: 0, signal: ac.signal })).to.deep.include({ reason: 'rejected-context-cancelled' });
  });

  it('sheds queued sheddable requests when saturation sets in', async () => {
    saturated = true;
    const fc = make({ pollIntervalMs: 5 });
    const first = fc.admit({ flowId: 'u', priority: 0 });
    saturated = false; // not saturated, but the queue is not empty: the newcomer queues behind
    const sheddable = fc.admit({ flowId: 'v', priority: -2 });
    saturated = true;
    expect(await sheddable).to.deep.include({ admitted: false, reason: 'rejected-saturated' });
    saturated = false;
    expect((await first).admitted).to.equal(true);
  });

  it('releases the next request as soon as an admitted one is done, without waiting for the poll', async () => {
    const fc = make({ pollIntervalMs: 60_000 });
    const first = (await fc.admit({ flowId: 'u', priority: 0 })) as Extract<Admission, { admitted: true }>;
    saturated = true;
    const t0 = Date.now();
    const second = fc.admit({ flowId: 'u', priority: 0 });
    await new Promise((r) => setImmediate(r));
    saturated = false;
    first.done();
    first.done(); // idempotent
    expect((await second).admitted).to.equal(true);
    expect(Date.now() - t0).to.be.below(1000);
  });

  it('refuses everything held on close', async () => {
    saturated = true;
    const fc = make();
    const p = fc.admit({ flowId: 'u', priority: 0 });
    fc.close();
    expect(await p).to.deep.include({ admitted: false, status: 503, reason: 'rejected-shutting-down' });
  });

  it('takes its saturation signal from the endpoints', async () => {
    const eps = [endpoint('10.0.0.1:1', { waiting: 7 }), endpoint('10.0.0.2:1', { kvCacheUsage: 0.97 })];
    const fc = make({ isSaturated: () => fleetSaturated(eps), pollIntervalMs: 5 });
    const p = fc.admit({ flowId: 'u', priority: 0 });
    await new Promise((r) => setTimeout(r, 20));
    expect(fc.queued).to.equal(1);
    eps[1]!.state.metrics!.kvCacheUsage = 0.5;
    expect((await p).admitted).to.equal(true);
  });

  describe('flowOf', () => {
    it('takes the fairness id from either header, else the user', () => {
      expect(flowOf(new Map([['x-gateway-inference-fairness-id', 'team-a']]), 'bob').flowId).to.equal('team-a');
      expect(flowOf(new Map([['x-llm-d-inference-fairness-id', 'team-b']]), 'bob').flowId).to.equal('team-b');
      expect(flowOf(new Map(), 'bob').flowId).to.equal('bob');
      expect(flowOf(new Map(), undefined).flowId).to.equal('default');
    });

    it('takes the priority from the named objective, or a numeric header value', () => {
      const objectives = new Map([['batch', -1], ['critical', 10]]);
      const h = (v: string, name = 'x-gateway-inference-objective') => new Map([[name, v]]);
      expect(flowOf(h('critical'), undefined, (o) => objectives.get(o)).priority).to.equal(10);
      expect(flowOf(h('batch', 'x-llm-d-inference-objective'), undefined, (o) => objectives.get(o)).priority).to.equal(-1);
      expect(flowOf(h('-3'), undefined).priority).to.equal(-3);
      expect(flowOf(h('unknown'), undefined).priority).to.equal(0);
    });
  });
});
