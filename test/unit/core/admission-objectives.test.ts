// Flow control with InferenceObjectives, through the routing pipeline and wired as router.ts wires it: objective names
// in the header resolve, via the datastore, to the priority of the objective bound to the request's pool or server.
import { expect } from 'chai';
import { AdmissionControl, type AdmissionConfig } from '../../../src/core/admission.js';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import type { Decision, InboundRequest, RouteDecision } from '../../../src/core/types.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { objectivePriorities } from '../../../src/scheduler/fairness/objectives.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

const r = (o: unknown) => parseResource(o) as Resource;
const KTHENA = 'networking.serving.volcano.sh';

const objective = (name: string, priority: number, poolRef: Record<string, string>, namespace = 'default') =>
  r({ apiVersion: 'inference.networking.x-k8s.io/v1alpha2', kind: 'InferenceObjective', metadata: { name, namespace }, spec: { priority, poolRef } });

function fleet(): Datastore {
  const ds = new Datastore();
  ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute', 'InferencePool', 'InferenceObjective'], [
    r(ms('llama', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'llama' } }, workloadPort: { port: 8000 } })),
    r(mr('llama', { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'llama' }] }] })),
    r(pod('a', '10.0.0.1', { app: 'llama' })),
    r({ apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', metadata: { name: 'pool' }, spec: { selector: { matchLabels: { app: 'llama' } }, targetPorts: [{ number: 8000 }] } }),
    objective('premium', 10, { name: 'pool' }),
    objective('batch', -1, { name: 'pool' }),
    objective('server-batch', -1, { group: KTHENA, kind: 'ModelServer', name: 'llama' }),
    objective('elsewhere', 10, { name: 'pool' }, 'team-b'),
    objective('other-pool-batch', -1, { name: 'other-pool' }),
  ]);
  return ds;
}

const config: AdmissionConfig = { enabled: true, queueing: true, maxQueueSize: 10, maxQueueTimeMs: 2000, trustPriorityHeader: false, saturation: { queueDepth: 5, kvCacheUsage: 0.9 } };

function endpointsOf(ds: Datastore, group: string) {
  const [kind, ns, name] = group.split(/[:/]/) as [string, string, string];
  return kind === 'pool' ? ds.endpointsForPool(ns, name) : ds.endpointsForServer(ns, name);
}

function setup(poolMode: boolean) {
  const ds = fleet();
  const admission = new AdmissionControl(config, (g) => endpointsOf(ds, g), objectivePriorities((ns, name) => ds.objective(ns, name)));
  const pipeline = new RoutingPipeline({
    datastore: ds,
    scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(3)),
    maxBodyBytes: 1 << 20,
    random: () => 0,
    admission,
    pool: poolMode ? { namespace: 'default', name: 'pool' } : undefined,
  });
  const saturate = (on: boolean) => {
    for (const ep of ds.allEndpoints()) {
      ep.state = { metrics: { running: 10, waiting: on ? 8 : 0, kvCacheUsage: 0.5, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
    }
  };
  return { pipeline, admission, saturate };
}

const chat = (objectiveName?: string): InboundRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: new Map(objectiveName ? [['x-gateway-inference-objective', objectiveName]] : []),
  body: Buffer.from(JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hello' }] })),
  frontend: 'extproc',
});

function route(d: Decision): RouteDecision {
  if (d.kind !== 'route') throw new Error(`expected a route, got ${d.status} ${d.body}`);
  return d;
}

function status(d: Decision): number {
  if (d.kind === 'route') d.exchange.finish('success');
  return d.kind === 'route' ? 200 : d.status;
}

/** Sends the requests while saturated, lifts saturation, and returns the order in which they were admitted. */
async function admissionOrder(s: ReturnType<typeof setup>, objectives: Array<string | undefined>): Promise<string[]> {
  s.saturate(true);
  const order: string[] = [];
  const pending = objectives.map((o) => s.pipeline.handle(chat(o)).then((d) => (order.push(o ?? 'plain'), d)));
  await new Promise((done) => setTimeout(done, 50));
  expect(order, 'held while saturated').to.deep.equal([]);
  s.saturate(false);
  for (const d of await Promise.all(pending)) route(d).exchange.finish('success');
  return order;
}

describe('flow control with InferenceObjectives', () => {
  let s: ReturnType<typeof setup> | undefined;
  afterEach(() => s?.admission.close());

  it('admits a request naming a high-priority objective before an earlier plain one, though client numbers are not trusted', async () => {
    s = setup(true);
    expect(await admissionOrder(s, [undefined, 'premium'])).to.deep.equal(['premium', 'plain']);
  });

  it('refuses a request naming a sheddable objective with 429 while saturated, and routes it otherwise', async () => {
    s = setup(true);
    s.saturate(true);
    const shed = await s.pipeline.handle(chat('batch'));
    expect(shed.kind === 'reject' && shed.headers['x-llm-d-request-dropped-reason']).to.be.a('string');
    expect(status(shed)).to.equal(429);
    s.saturate(false);
    expect(status(await s.pipeline.handle(chat('batch')))).to.equal(200);
  });

  it('applies objectives bound to a ModelServer to requests routed to that ModelServer', async () => {
    s = setup(false);
    s.saturate(true);
    expect(status(await s.pipeline.handle(chat('server-batch')))).to.equal(429);
  });

  it('ignores objectives of another namespace or another pool: the name then counts as no priority', async () => {
    s = setup(true);
    expect(await admissionOrder(s, [undefined, 'elsewhere', 'other-pool-batch'])).to.deep.equal(['plain', 'elsewhere', 'other-pool-batch']);
    // A pool's objectives do not follow a request that was routed to a ModelServer.
    const server = setup(false);
    try {
      expect(await admissionOrder(server, [undefined, 'premium', 'batch'])).to.deep.equal(['plain', 'premium', 'batch']);
    } finally {
      server.admission.close();
    }
  });
});
