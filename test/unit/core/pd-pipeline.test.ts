import { expect } from 'chai';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import type { Decision, InboundRequest, RouteDecision } from '../../../src/core/types.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { SchedulingRequest } from '../../../src/scheduler/types.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

const r = (o: unknown) => parseResource(o) as Resource;
const pdGroup = { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } };

function fleet(): Datastore {
  const ds = new Datastore();
  const server = (name: string, engine: string, extra: Record<string, unknown> = {}) =>
    r(ms(name, { inferenceEngine: engine, model: 'engine-model', workloadSelector: { matchLabels: { app: name }, pdGroup }, workloadPort: { port: 8000 }, ...extra }));
  const p = (name: string, ip: string, app: string, role: string, group: string) => r(pod(name, ip, { app, role, 'pd-group': group }));
  ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute'], [
    server('nixl', 'vLLM', { kvConnector: { type: 'nixl' } }),
    server('plain', 'vLLM'),
    server('sgl', 'SGLang'),
    ...['nixl', 'plain', 'sgl'].map((n) => r(mr(n, { modelName: n, rules: [{ targetModels: [{ modelServerName: n }] }] }))),
    p('n-p1', '10.2.0.1', 'nixl', 'prefill', 'a'),
    p('n-p2', '10.2.0.2', 'nixl', 'prefill', 'a'),
    p('n-d1', '10.2.0.3', 'nixl', 'decode', 'a'),
    p('n-p3', '10.2.0.4', 'nixl', 'prefill', 'b'),
    p('n-d2', '10.2.0.5', 'nixl', 'decode', 'b'),
    p('pl-p', '10.2.1.1', 'plain', 'prefill', 'a'),
    p('pl-d', '10.2.1.2', 'plain', 'decode', 'a'),
    p('s-p', '10.2.2.1', 'sgl', 'prefill', 'a'),
    p('s-d', '10.2.2.2', 'sgl', 'decode', 'a'),
  ]);
  return ds;
}

interface Call {
  hook: 'picked' | 'served' | 'completed';
  req: SchedulingRequest;
  address: string | undefined;
  outcome?: string;
}

function setup() {
  const datastore = fleet();
  const scheduler = new Scheduler(DEFAULT_SCHEDULER, seeded(3));
  const calls: Call[] = [];
  const picked = scheduler.picked.bind(scheduler);
  const served = scheduler.served.bind(scheduler);
  const completed = scheduler.completed.bind(scheduler);
  scheduler.picked = (req, ep) => (calls.push({ hook: 'picked', req, address: ep.address }), picked(req, ep));
  scheduler.served = (req, ep) => (calls.push({ hook: 'served', req, address: ep.address }), served(req, ep));
  scheduler.completed = (req, ep, outcome) => (calls.push({ hook: 'completed', req, address: ep?.address, outcome }), completed(req, ep, outcome));
  const pipeline = new RoutingPipeline({ datastore, scheduler, maxBodyBytes: 1 << 20, random: seeded(5) });
  return { datastore, pipeline, calls };
}

const request = (model: string, frontend: InboundRequest['frontend']): InboundRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: new Map([['x-prefiller-host-port', '6.6.6.6:1']]),
  body: Buffer.from(JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], stream: true })),
  frontend,
});

function route(d: Decision): RouteDecision {
  if (d.kind !== 'route') throw new Error(`expected a route, got ${d.status} ${d.body}`);
  return d;
}

const group = (ds: Datastore, address: string) => ds.endpoint(address)!.labels['pd-group'];

describe('pipeline decisions for prefill/decode disaggregation', () => {
  it('proxy: carries every ranked pair, the protocol and the body, and no prefiller header', async () => {
    const { datastore, pipeline } = setup();
    const d = route(await pipeline.handle(request('nixl', 'proxy')));
    const pd = d.prefillDecode!;
    expect(pd.protocol).to.equal('nixl');
    expect(pd.body).to.deep.include({ model: 'engine-model', stream: true });
    expect(pd.pairs).to.have.length(3);
    for (const pair of pd.pairs) {
      expect(group(datastore, pair.prefill)).to.equal(group(datastore, pair.decode));
      expect(pair.prefillIp).to.equal(pair.prefill.split(':')[0]);
    }
    expect(d.endpoints).to.deep.equal([...new Set(pd.pairs.map((p) => p.decode))]);
    expect(d.endpoints[0]).to.equal(pd.pairs[0]!.decode);
    expect(d.setHeaders).to.not.have.property('x-prefiller-host-port');
    expect(d.removeHeaders).to.include('x-prefiller-host-port');
    d.exchange.finish('cancelled');
  });

  it('proxy: the protocol follows the engine and kvConnector', async () => {
    const { pipeline } = setup();
    for (const [model, protocol] of [['plain', 'http'], ['sgl', 'sglang']]) {
      const d = route(await pipeline.handle(request(model!, 'proxy')));
      expect(d.prefillDecode!.protocol).to.equal(protocol);
      d.exchange.finish('cancelled');
    }
  });

  it('ext_proc: unchanged, the decode endpoint with the prefill endpoint in x-prefiller-host-port', async () => {
    const { datastore, pipeline } = setup();
    const d = route(await pipeline.handle(request('nixl', 'extproc')));
    expect(d.prefillDecode).to.equal(undefined);
    expect(d.endpoints).to.have.length(1);
    const prefill = d.setHeaders['x-prefiller-host-port']!;
    expect(prefill).to.match(/^10\.2\.0\.\d:8000$/);
    expect(group(datastore, prefill)).to.equal(group(datastore, d.endpoints[0]!));
    expect(d.removeHeaders).to.not.include('x-prefiller-host-port');
    d.exchange.finish('success');
  });

  it('tracks the prefill phase as a request of its own: picked at the decision, completed when it ends', async () => {
    const { datastore, pipeline, calls } = setup();
    const d = route(await pipeline.handle(request('nixl', 'proxy')));
    const [first] = d.prefillDecode!.pairs;
    const picks = calls.filter((c) => c.hook === 'picked');
    expect(picks.map((c) => c.address)).to.have.members([first!.decode, first!.prefill]);
    const prefillReq = picks.find((c) => c.address === first!.prefill)!.req;
    const decodeReq = picks.find((c) => c.address === first!.decode)!.req;
    expect(prefillReq, 'a distinct scheduling request').to.not.equal(decodeReq);
    expect(prefillReq.requestId).to.equal(decodeReq.requestId);

    const inflight = (a: string) => datastore.endpoint(a)!.inflight;
    expect(inflight(first!.decode)).to.equal(1);
    expect(inflight(first!.prefill), 'counted while the prefill request is out').to.equal(0);
    d.exchange.prefillStarted!(first!.prefill);
    expect(inflight(first!.prefill)).to.equal(1);
    d.exchange.prefillEnded!(first!.prefill, 200, 'success');
    expect(inflight(first!.prefill)).to.equal(0);
    expect(calls.at(-1)).to.deep.include({ hook: 'completed', req: prefillReq, address: first!.prefill, outcome: 'success' });
    d.exchange.finish('success');
    expect(calls.at(-1)).to.deep.include({ hook: 'completed', req: decodeReq, address: first!.decode });
    expect(calls.filter((c) => c.hook === 'completed')).to.have.length(2);
    expect(inflight(first!.decode)).to.equal(0);
  });

  it('moves the prefill phase to the pair the front door fails over to, and completes it once', async () => {
    const { datastore, pipeline, calls } = setup();
    const d = route(await pipeline.handle(request('nixl', 'proxy')));
    const [a, b] = d.prefillDecode!.pairs.map((p) => p.prefill).filter((x, i, all) => all.indexOf(x) === i) as [string, string];
    d.exchange.prefillStarted!(a);
    d.exchange.prefillEnded!(a, 503, 'error');
    expect(calls.filter((c) => c.hook === 'completed'), 'a failed attempt may be followed by another').to.have.length(0);
    d.exchange.prefillStarted!(b);
    expect(calls.at(-1)).to.deep.include({ hook: 'served', address: b });
    expect(datastore.endpoint(b)!.inflight).to.equal(1);
    d.exchange.finish('cancelled');
    expect(datastore.endpoint(b)!.inflight, 'released with the request').to.equal(0);
    expect(calls.filter((c) => c.hook === 'completed').map((c) => [c.address, c.outcome])).to.deep.include([b, 'cancelled']);
    d.exchange.prefillEnded!(b, 0, 'cancelled');
    expect(calls.filter((c) => c.hook === 'completed')).to.have.length(2);
    expect(datastore.endpoint(a)!.inflight + datastore.endpoint(b)!.inflight).to.equal(0);
  });

  it('ext_proc: the prefill phase completes with the request', async () => {
    const { pipeline, calls } = setup();
    const d = route(await pipeline.handle(request('nixl', 'extproc')));
    d.exchange.finish('success');
    const done = calls.filter((c) => c.hook === 'completed').map((c) => c.address);
    expect(done).to.have.members([d.endpoints[0], d.setHeaders['x-prefiller-host-port']]);
  });
});
