import { expect } from 'chai';
import { AdmissionControl } from '../../../src/core/admission.js';
import { RoutingPipeline, type PipelineOptions } from '../../../src/core/pipeline.js';
import type { ReserveOutcome } from '../../../src/core/filters.js';
import type { Decision, InboundRequest, RouteDecision } from '../../../src/core/types.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

const r = (o: unknown) => parseResource(o) as Resource;

function fleet(): Datastore {
  const ds = new Datastore();
  ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute', 'InferencePool'], [
    r(ms('llama', { model: 'meta-llama/Llama-3.1-8B', inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'llama' } }, workloadPort: { port: 8000 }, trafficPolicy: { timeout: '30s', retry: { attempts: 2, retryInterval: '50ms' } } })),
    r(ms('canary', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'canary' } }, workloadPort: { port: 8000 } })),
    r(ms('empty', { inferenceEngine: 'SGLang', workloadSelector: { matchLabels: { app: 'none' } }, workloadPort: { port: 30000 } })),
    r(mr('llama', { modelName: 'llama', loraAdapters: ['sql-lora'], rules: [{ targetModels: [{ modelServerName: 'llama', weight: 90 }, { modelServerName: 'canary', weight: 10 }] }] })),
    r(mr('ghost', { modelName: 'ghost', rules: [{ targetModels: [{ modelServerName: 'empty' }] }] })),
    r(pod('a', '10.0.0.1', { app: 'llama' })),
    r(pod('b', '10.0.0.2', { app: 'llama' })),
    r(pod('c', '10.0.0.3', { app: 'canary' })),
    r({ apiVersion: 'inference.networking.k8s.io/v1', kind: 'InferencePool', metadata: { name: 'pool' }, spec: { selector: { matchLabels: { app: 'llama' } }, targetPorts: [{ number: 8000 }] } }),
  ]);
  return ds;
}

function pipeline(over: Partial<PipelineOptions> = {}) {
  const datastore = over.datastore ?? fleet();
  return new RoutingPipeline({ datastore, scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(3)), maxBodyBytes: 1 << 20, random: seeded(5), ...over });
}

const chat = (model: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): InboundRequest => ({
  method: 'POST',
  path: '/v1/chat/completions',
  headers: new Map(Object.entries(headers)),
  body: Buffer.from(JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], ...extra })),
  frontend: 'extproc',
});

function errorOf(d: Decision): { status: number; code: string; type: string } {
  if (d.kind !== 'reject') throw new Error(`expected a rejection, got a route to ${d.endpoints}`);
  const e = JSON.parse(d.body.toString()).error;
  return { status: d.status, code: e.code, type: e.type };
}

function route(d: Decision): RouteDecision {
  if (d.kind !== 'route') throw new Error(`expected a route, got ${d.status} ${d.body}`);
  return d;
}

describe('routing pipeline', () => {
  it('rejects bad bodies with OpenAI-style 400s', async () => {
    const p = pipeline();
    const bad = (body: string) => p.handle({ ...chat('x'), body: Buffer.from(body) });
    expect(errorOf(await bad('{'))).to.deep.equal({ status: 400, code: 'invalid_json', type: 'invalid_request_error' });
    expect(errorOf(await bad('[1]')).code).to.equal('invalid_json');
    expect(errorOf(await bad('{"messages":[]}')).code).to.equal('missing_model');
    expect(errorOf(await bad('')).code).to.equal('missing_body');
  });

  it('413 over the body limit, 404 unknown model, 503 no ready pod', async () => {
    const p = pipeline({ maxBodyBytes: 100 });
    expect(errorOf(await p.handle(chat('llama', { pad: 'x'.repeat(200) }))).status).to.equal(413);
    const q = pipeline();
    expect(errorOf(await q.handle(chat('nope')))).to.deep.include({ status: 404, code: 'model_not_found' });
    expect(errorOf(await q.handle(chat('ghost')))).to.deep.include({ status: 503, code: 'no_ready_endpoint' });
  });

  it('routes, rewrites the model to ModelServer.spec.model and carries the traffic policy', async () => {
    const d = route(await pipeline({ random: () => 0 }).handle(chat('llama', {}, { 'x-request-id': 'req-1' })));
    expect(d.endpoints[0]).to.match(/^10\.0\.0\.[12]:8000$/);
    expect(d.endpoints).to.have.length(2);
    expect(JSON.parse(d.body!.toString()).model).to.equal('meta-llama/Llama-3.1-8B');
    expect(d.setHeaders['x-request-id']).to.equal('req-1');
    expect(d.upstream).to.deep.equal({ scheme: 'http', timeoutMs: 30_000, retryAttempts: 2, retryIntervalMs: 50, attemptHeadersTimeoutMs: 0, attemptFirstTokenTimeoutMs: 0 });
    d.exchange.finish('success');
  });

  it('keeps a LoRA adapter name as the model sent to the pod', async () => {
    const d = route(await pipeline({ random: () => 0 }).handle(chat('sql-lora')));
    expect(d.body).to.equal(undefined);
    d.exchange.finish('success');
  });

  it('splits traffic by target weight', async () => {
    const p = pipeline({ random: seeded(11) });
    let canary = 0;
    for (let i = 0; i < 1000; i++) {
      const d = route(await p.handle(chat('llama')));
      if (d.endpoints[0] === '10.0.0.3:8000') canary++;
      d.exchange.finish('success');
    }
    expect(canary / 1000).to.be.within(0.06, 0.14);
  });

  it('honours the subset hint and 503s when nothing in it is eligible', async () => {
    const p = pipeline({ random: () => 0 });
    const d = route(await p.handle({ ...chat('llama'), subset: ['10.0.0.2:8000'] }));
    expect(d.endpoints).to.deep.equal(['10.0.0.2:8000']);
    d.exchange.finish('success');
    const ip = route(await p.handle({ ...chat('llama'), subset: ['10.0.0.1'] }));
    expect(ip.endpoints).to.deep.equal(['10.0.0.1:8000']);
    ip.exchange.finish('success');
    const none = await p.handle({ ...chat('llama'), subset: ['10.9.9.9:8000'] });
    expect(errorOf(none).status).to.equal(503);
    expect(none.kind === 'reject' && none.headers['x-llm-d-request-dropped-reason']).to.equal('rejected-no-endpoints');
  });

  it('ignores the conformance steering header unless test mode is on', async () => {
    const steer = { 'test-epp-endpoint-selection': '10.0.0.2' };
    const off = pipeline({ random: () => 0 });
    const seen = new Set<string>();
    for (let i = 0; i < 40; i++) {
      // Distinct prompts, so that prefix affinity does not pin them all to one pod.
      const d = route(await off.handle(chat('llama', { messages: [{ role: 'user', content: `question ${i}` }] }, steer)));
      seen.add(d.endpoints[0]!);
      d.exchange.finish('success');
    }
    expect(seen.size).to.equal(2);
    const on = pipeline({ random: () => 0, testMode: true });
    const d = route(await on.handle(chat('llama', {}, steer)));
    expect(d.endpoints).to.deep.equal(['10.0.0.2:8000']);
  });

  it('counts in-flight requests and releases them exactly once, on the served endpoint', async () => {
    const ds = fleet();
    const p = pipeline({ datastore: ds, random: () => 0 });
    const d = route(await p.handle(chat('llama')));
    const primary = ds.endpoint(d.endpoints[0]!)!;
    expect(primary.inflight).to.equal(1);
    const other = ds.endpoint(d.endpoints[1]!)!;
    d.exchange.served(other.address);
    expect([primary.inflight, other.inflight]).to.deep.equal([0, 1]);
    d.exchange.finish('cancelled');
    d.exchange.finish('success');
    expect(other.inflight).to.equal(0);
  });

  it('rewrites the model name back in responses and reads usage', async () => {
    const p = pipeline({ random: () => 0 });
    const d = route(await p.handle(chat('llama', { stream: true })));
    d.exchange.responseHeaders(200, new Map([['content-type', 'text/event-stream']]));
    const out = d.exchange.responseBody(
      Buffer.from('data: {"model":"meta-llama/Llama-3.1-8B","choices":[{"delta":{"content":"hi"}}]}\n\n'),
      false,
    );
    expect(out.toString()).to.contain('"model":"llama"');
    // The member split across two chunks is rewritten too.
    const first = d.exchange.responseBody(Buffer.from('data: {"model":"meta-llama/Lla'), false);
    const second = d.exchange.responseBody(Buffer.from('ma-3.1-8B","choices":[]}\n\n'), true);
    expect(Buffer.concat([first, second]).toString()).to.equal('data: {"model":"llama","choices":[]}\n\n');
    d.exchange.finish('success');
  });

  it('honours the gateway model rewrite header: body rewritten, mapped back in responses, header not forwarded', async () => {
    const p = pipeline({ pool: { namespace: 'default', name: 'pool' }, random: () => 0 });
    const d = route(await p.handle(chat('client-name', {}, { 'x-gateway-model-name-rewrite': 'target-a' })));
    expect(JSON.parse(d.body!.toString()).model).to.equal('target-a');
    expect(d.removeHeaders).to.include.members(['x-gateway-model-name-rewrite', 'x-llm-d-model-name-rewrite']);
    d.exchange.responseHeaders(200, new Map([['content-type', 'application/json']]));
    expect(d.exchange.responseBody(Buffer.from('{"model":"target-a"}'), true).toString()).to.equal('{"model":"client-name"}');
    d.exchange.finish('success');
    // llm-d's name wins over the older GIE name, as llm-d reads them.
    const both = { 'x-gateway-model-name-rewrite': 'target-a', 'x-llm-d-model-name-rewrite': 'target-b' };
    const b = route(await p.handle(chat('client-name', {}, both)));
    expect(JSON.parse(b.body!.toString()).model).to.equal('target-b');
    b.exchange.finish('success');
    // No header, no rewrite.
    const plain = route(await p.handle(chat('client-name')));
    expect(plain.body).to.equal(undefined);
    plain.exchange.finish('success');
  });

  it("lets the operator's ModelServer.spec.model win over the rewrite header", async () => {
    const p = pipeline({ random: () => 0 });
    const d = route(await p.handle(chat('llama', {}, { 'x-llm-d-model-name-rewrite': 'other' })));
    expect(JSON.parse(d.body!.toString()).model).to.equal('meta-llama/Llama-3.1-8B');
    d.exchange.finish('success');
  });

  it('in pool mode picks among the pool and still applies a matching route rewrite', async () => {
    const p = pipeline({ pool: { namespace: 'default', name: 'pool' }, random: () => 0 });
    const d = route(await p.handle(chat('llama')));
    expect(d.endpoints.every((e) => e === '10.0.0.1:8000' || e === '10.0.0.2:8000')).to.equal(true);
    expect(JSON.parse(d.body!.toString()).model).to.equal('meta-llama/Llama-3.1-8B');
    const unknown = route(await p.handle(chat('anything')));
    expect(unknown.body).to.equal(undefined);
    const models = await p.handle({ method: 'GET', path: '/v1/models', headers: new Map(), body: Buffer.alloc(0), frontend: 'proxy' });
    expect(models.kind).to.equal('route');
  });

  it('answers GET /v1/models from the routes', async () => {
    const d = await pipeline().handle({ method: 'GET', path: '/v1/models', headers: new Map(), body: Buffer.alloc(0), frontend: 'proxy' });
    if (d.kind !== 'reject') throw new Error('expected a direct answer');
    expect(d.status).to.equal(200);
    expect(JSON.parse(d.body.toString()).data.map((m: { id: string }) => m.id)).to.have.members(['llama', 'sql-lora', 'ghost']);
  });

  it('maps auth and rate-limit refusals to their status codes and releases reservations', async () => {
    let released = 0;
    const p = pipeline({
      auth: {
        authenticate: async (h) =>
          h.get('authorization') === 'Bearer good'
            ? { ok: true, principal: { user: 'u', tenant: 't', groups: [], method: 'api-key' } }
            : { ok: false, status: 401, code: 'invalid_api_key', message: 'bad key', reason: 'invalid' },
      },
      rateLimit: {
        reserve: async (q): Promise<ReserveOutcome> =>
          q.principal.user === 'u' && q.inputTokens === 0
            ? { ok: true, reservation: { commit() {}, release: () => void released++ }, headers: {} }
            : { ok: false, status: 429, code: 'rate_limit_exceeded', message: 'slow down', headers: { 'retry-after': '3' } },
      },
    });
    const unauth = await p.handle(chat('llama'));
    expect(errorOf(unauth)).to.deep.include({ status: 401, type: 'authentication_error' });
    const admitted = { ...chat('llama', {}, { authorization: 'Bearer good' }), subset: ['10.9.9.9:1'] };
    expect(errorOf(await p.handle(admitted)).status).to.equal(503);
    expect(released, 'reservation given back when nothing can serve').to.equal(1);
    const counting = pipeline({ ...p['opts'], countTokens: () => 7 });
    const limited = await counting.handle(chat('llama', {}, { authorization: 'Bearer good' }));
    expect(errorOf(limited).status).to.equal(429);
    expect(limited.kind === 'reject' && limited.headers['retry-after']).to.equal('3');
  });

  it('gives the client, not the engine, the rate-limit headers of an admitted request', async () => {
    const p = pipeline({
      rateLimit: {
        reserve: async (): Promise<ReserveOutcome> => ({
          ok: true,
          reservation: { commit() {}, release() {} },
          headers: { 'x-ratelimit-limit-requests': '5', 'x-ratelimit-remaining-requests': '4' },
        }),
      },
      random: () => 0,
    });
    const d = await p.handle(chat('llama'));
    expect(d.kind).to.equal('route');
    if (d.kind !== 'route') return;
    expect(Object.keys(d.setHeaders).filter((k) => k.startsWith('x-ratelimit'))).to.deep.equal([]);
    expect(d.clientHeaders).to.deep.equal({ 'x-ratelimit-limit-requests': '5', 'x-ratelimit-remaining-requests': '4' });
    d.exchange.finish('success');
  });
});

describe('routing pipeline: cheap checks before token counting', () => {
  const big = 'x '.repeat(10_000);
  const limiter = (refuse: boolean, calls: string[]) => ({
    precheck: async (): Promise<ReserveOutcome | undefined> => {
      calls.push('precheck');
      return refuse ? { ok: false, status: 429, code: 'rate_limit_exceeded', message: 'out of requests', headers: {} } : undefined;
    },
    reserve: async (): Promise<ReserveOutcome> => {
      calls.push('reserve');
      return { ok: true, reservation: { commit() {}, release() {} }, headers: {} };
    },
  });

  it('refuses a client out of requests before counting its big prompt', async () => {
    const calls: string[] = [];
    const p = pipeline({ rateLimit: limiter(true, calls), countTokens: () => (calls.push('count'), 1) });
    const d = await p.handle(chat('llama', { messages: [{ role: 'user', content: big }] }));
    expect(errorOf(d)).to.deep.include({ status: 429, code: 'rate_limit_exceeded' });
    expect(calls).to.deep.equal(['precheck']);
  });

  it('counts with the request signal once the cheap checks pass; small prompts skip the precheck', async () => {
    const calls: string[] = [];
    const signals: (AbortSignal | undefined)[] = [];
    const p = pipeline({
      rateLimit: limiter(false, calls),
      countTokens: (_m, _t, signal) => (calls.push('count'), signals.push(signal), 1),
    });
    const abort = new AbortController();
    route(await p.handle({ ...chat('llama', { messages: [{ role: 'user', content: big }] }), signal: abort.signal }));
    expect(calls).to.deep.equal(['precheck', 'count', 'reserve']);
    expect(signals[0]).to.equal(abort.signal);
    calls.length = 0;
    route(await p.handle(chat('llama')));
    expect(calls).to.deep.equal(['count', 'reserve']);
  });
});

describe('routing pipeline flow control', () => {
  const config = { enabled: true, queueing: true, maxQueueSize: 10, maxQueueTimeMs: 2000, trustPriorityHeader: false, saturation: { queueDepth: 5, kvCacheUsage: 0.9 } };

  function saturate(ds: Datastore, waiting: number) {
    for (const ep of ds.allEndpoints()) {
      ep.state = { metrics: { running: 10, waiting, kvCacheUsage: 0.5, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
    }
  }

  it('sheds sheddable requests with 429 and holds the others until an endpoint frees up', async () => {
    const ds = fleet();
    const admission = new AdmissionControl(config, (g) => ds.endpointsForServer('default', g.split('/')[1]!));
    const p = pipeline({ datastore: ds, admission, random: () => 0 });
    saturate(ds, 8);
    const shed = await p.handle(chat('llama', {}, { 'x-gateway-inference-objective': '-1' }));
    expect(errorOf(shed)).to.deep.include({ status: 429, code: 'saturated' });
    let decided = false;
    const held = p.handle(chat('llama')).then((d) => ((decided = true), d));
    await new Promise((r) => setTimeout(r, 100));
    expect(decided, 'held while saturated').to.equal(false);
    saturate(ds, 0);
    const d = route(await held);
    d.exchange.finish('success');
    admission.close();
  });

  it('by default (no queueing, as the Go picker) routes standard and higher priority at once and sheds only sheddable', async () => {
    const ds = fleet();
    const admission = new AdmissionControl({ ...config, queueing: false }, (g) => ds.endpointsForServer('default', g.split('/')[1]!));
    const p = pipeline({ datastore: ds, admission, random: () => 0 });
    saturate(ds, 8);
    for (const objective of [undefined, '0', '5']) {
      const headers: Record<string, string> = objective === undefined ? {} : { 'x-gateway-inference-objective': objective };
      // No poll, no timer: the decision is there on the next turn of the event loop.
      const d = await Promise.race([p.handle(chat('llama', {}, headers)), new Promise<'held'>((r) => setTimeout(() => r('held'), 50))]);
      expect(d, `objective ${objective}`).to.not.equal('held');
      route(d as Decision).exchange.finish('success');
    }
    const shed = await p.handle(chat('llama', {}, { 'x-llm-d-inference-objective': '-1' }));
    expect(errorOf(shed)).to.deep.include({ status: 429, code: 'saturated' });
    expect(shed.kind === 'reject' && shed.headers).to.deep.include({ 'x-llm-d-request-dropped-reason': 'rejected-saturated', 'retry-after': '1' });
    saturate(ds, 0);
    route(await p.handle(chat('llama', {}, { 'x-llm-d-inference-objective': '-1' }))).exchange.finish('success');
    admission.close();
  });

  it('with queueing, a request held past maxQueueTimeMs gets 429 rejected-ttl-expired', async () => {
    const ds = fleet();
    const admission = new AdmissionControl({ ...config, maxQueueTimeMs: 50 }, (g) => ds.endpointsForServer('default', g.split('/')[1]!));
    const p = pipeline({ datastore: ds, admission, random: () => 0 });
    saturate(ds, 8);
    const d = await p.handle(chat('llama'));
    expect(errorOf(d).status).to.equal(429);
    expect(d.kind === 'reject' && d.headers['x-llm-d-request-dropped-reason']).to.equal('rejected-ttl-expired');
    admission.close();
  });

  for (const trust of [false, true]) {
    it(`orders held requests by the objective priority only when the header is trusted (trust=${trust})`, async () => {
      const ds = fleet();
      const admission = new AdmissionControl({ ...config, trustPriorityHeader: trust }, (g) => ds.endpointsForServer('default', g.split('/')[1]!));
      const p = pipeline({ datastore: ds, admission, random: () => 0 });
      saturate(ds, 8);
      const order: string[] = [];
      const first = p.handle(chat('llama')).then((d) => (order.push('plain'), d));
      const second = p.handle(chat('llama', {}, { 'x-gateway-inference-objective': '100' })).then((d) => (order.push('priority'), d));
      await new Promise((r) => setTimeout(r, 50));
      saturate(ds, 0);
      for (const d of await Promise.all([first, second])) route(d).exchange.finish('success');
      expect(order).to.deep.equal(trust ? ['priority', 'plain'] : ['plain', 'priority']);
      admission.close();
    });
  }
});

describe('routing pipeline prefill/decode disaggregation', () => {
  it('routes to a decode pod and names a prefill pod of the same group; clients cannot set the prefiller', async () => {
    const ds = new Datastore();
    const pdPod = (name: string, ip: string, role: string, group: string) => r(pod(name, ip, { app: 'pd', role, 'pd-group': group }));
    ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute'], [
      r(ms('pd', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'pd' }, pdGroup: { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } } }, workloadPort: { port: 8000 } })),
      r(mr('pd', { modelName: 'pd', rules: [{ targetModels: [{ modelServerName: 'pd' }] }] })),
      pdPod('p-a', '10.1.0.1', 'prefill', 'a'),
      pdPod('d-a', '10.1.0.2', 'decode', 'a'),
      pdPod('p-b', '10.1.0.3', 'prefill', 'b'),
      pdPod('d-b', '10.1.0.4', 'decode', 'b'),
      pdPod('d-c', '10.1.0.5', 'decode', 'c'),
    ]);
    const p = pipeline({ datastore: ds });
    const partner: Record<string, string> = { '10.1.0.2:8000': '10.1.0.1:8000', '10.1.0.4:8000': '10.1.0.3:8000' };
    for (let i = 0; i < 20; i++) {
      const d = route(await p.handle(chat('pd', {}, { 'x-prefiller-host-port': '6.6.6.6:1' })));
      expect(d.endpoints).to.have.length(1);
      expect(partner[d.endpoints[0]!], 'decode pods with a prefill partner only').to.be.a('string');
      expect(d.setHeaders['x-prefiller-host-port']).to.equal(partner[d.endpoints[0]!]);
      d.exchange.finish('success');
    }
    const plain = route(await pipeline().handle(chat('llama', {}, { 'x-prefiller-host-port': '6.6.6.6:1' })));
    expect(plain.removeHeaders).to.include.members(['x-prefiller-host-port', 'x-kthena-provider']);
  });
});
