import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startCollector, type Collector, type ReceivedSpan } from '../../support/otelcol.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';

// Issue 14 item 4: the router exports its spans over OTLP to a real OpenTelemetry Collector (tools/otelcol), here
// read back from the collector's file exporter. Proxy and ext_proc (through real Envoy) alike: one server span per
// request continuing the caller's traceparent, children for auth, rate limit, scheduling and the upstream, and the
// engine receives a traceparent naming the upstream span.

const IPS = ['127.0.141.1', '127.0.141.2'];
const PORT = 18_941;
const KEY = 'sk-trace-team-0123456789';
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const KINDS = { server: 2, client: 3 };

describe('e2e tracing: spans at a real OpenTelemetry Collector', function () {
  this.timeout(180_000);
  let dir: string;
  let collector: Collector;
  let engines: FakeEngine[] = [];
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    collector = await startCollector('127.0.141.10');
    engines = await Promise.all(IPS.map((host) => startFakeEngine({ host, port: PORT, engine: 'vllm', state: { model: MODEL, completionTokens: 3 } })));
    dir = await mkdtemp(join(tmpdir(), 'kthena-tracing-e2e-'));
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT, model: MODEL }),
      modelRouteYaml('llama', 'llama', ['  rateLimit: {inputTokensPerUnit: 100000, unit: hour}']),
      ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
    ));
    await writeFile(join(dir, 'config.yaml'), `auth:\n  apiKeys:\n    keys:\n      - {key: ${KEY}, user: alice, tenant: team-a}\n`);
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.httpEndpoint,
      OTEL_SERVICE_NAME: 'kthena-router-e2e',
      // Export every 100 ms instead of every 5 s, so the test need not wait.
      OTEL_BSP_SCHEDULE_DELAY: '100',
    });
    envoy = await startEnvoyFor(router.ports.grpc);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await Promise.all(engines.map((e) => e.close()));
    await collector?.stop();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(() => engines.forEach((e) => e.setState({ completionDelayMs: 0 })));

  const chat = (headers: Record<string, string>, extra: Record<string, unknown> = {}) => ({
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...headers },
    body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'trace me' }], max_tokens: 3, ...extra }),
  });

  function callerContext() {
    const traceId = randomBytes(16).toString('hex');
    const spanId = randomBytes(8).toString('hex');
    return { traceId, spanId, traceparent: `00-${traceId}-${spanId}-01` };
  }

  /** The request's spans, once the server span and `names` have all arrived. */
  function requestSpans(traceId: string, names: string[]): Promise<Map<string, ReceivedSpan>> {
    return collector.waitFor((all) => {
      const mine = all.filter((s) => s.traceId === traceId);
      const byName = new Map(mine.map((s) => [s.name, s]));
      return ['kthena.request', ...names].every((n) => byName.has(n)) ? byName : undefined;
    });
  }

  /** Structure and attributes shared by both front doors; returns the upstream span and the engine that served. */
  function checkRequestTrace(spans: Map<string, ReceivedSpan>, frontend: string, parentSpanId: string) {
    const root = spans.get('kthena.request')!;
    expect(root.parentSpanId).to.equal(parentSpanId);
    expect(root.kind).to.equal(KINDS.server);
    expect(root.resource['service.name']).to.equal('kthena-router-e2e');
    expect(root.attributes).to.include({
      'kthena.frontend': frontend,
      'http.request.method': 'POST',
      'url.path': '/v1/chat/completions',
      'http.response.status_code': 200,
      'gen_ai.request.model': 'llama',
    });
    expect(root.attributes['kthena.request_id']).to.be.a('string').and.not.empty;
    for (const name of ['kthena.auth', 'kthena.rate_limit', 'kthena.schedule', 'kthena.upstream']) {
      const s = spans.get(name)!;
      expect(s.parentSpanId, name).to.equal(root.spanId);
      expect(s.startNs >= root.startNs && s.endNs <= root.endNs, `${name} within the request span`).to.equal(true);
      expect(s.statusCode, name).to.not.equal(2);
    }
    expect(spans.get('kthena.auth')!.attributes).to.include({ 'enduser.id': 'alice', 'kthena.tenant': 'team-a', 'kthena.auth.method': 'api-key' });
    expect(spans.get('kthena.rate_limit')!.attributes['kthena.input_tokens']).to.be.a('number').above(0);

    const schedule = spans.get('kthena.schedule')!.attributes;
    const chosen = schedule['kthena.endpoint'] as string;
    expect(engines.map((e) => e.address)).to.include(chosen);
    expect(schedule['kthena.scheduling.candidates']).to.equal(2);
    expect(schedule['kthena.scheduling.ranked']).to.be.an('array').with.length(2);
    expect((schedule['kthena.scheduling.ranked'] as string[])[0]).to.equal(chosen);
    const scores = schedule['kthena.scheduling.scores'] as number[];
    expect(scores).to.have.length(2);
    expect(scores[0]).to.be.at.least(scores[1]!);

    const upstream = spans.get('kthena.upstream')!;
    expect(upstream.kind).to.equal(KINDS.client);
    expect(`${upstream.attributes['server.address']}:${upstream.attributes['server.port']}`).to.equal(chosen);
    expect(upstream.attributes['http.response.status_code']).to.equal(200);
    const engine = engines.find((e) => e.address === chosen)!;
    // The engine continues the trace from the upstream span, not from the caller's.
    expect(engine.lastRequest?.headers.traceparent).to.equal(`00-${root.traceId}-${upstream.spanId}-01`);
    return { root, upstream };
  }

  it('proxy: continues the caller trace with auth, rate-limit, scheduling and upstream spans; the engine gets the upstream span', async () => {
    const caller = callerContext();
    const res = await fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, chat({ traceparent: caller.traceparent }));
    expect(res.status).to.equal(200);
    await res.json();
    const spans = await requestSpans(caller.traceId, ['kthena.auth', 'kthena.rate_limit', 'kthena.schedule', 'kthena.upstream']);
    checkRequestTrace(spans, 'proxy', caller.spanId);
  });

  it('ext_proc through real Envoy: the same trace, the traceparent set by header mutation, the upstream span until the response ended', async () => {
    // A streamed answer that takes a while: the upstream span must cover it, not just the pick.
    engines.forEach((e) => e.setState({ completionDelayMs: 150 }));
    const caller = callerContext();
    const res = await fetch(`${envoy.url}/v1/chat/completions`, chat({ traceparent: caller.traceparent }, { stream: true }));
    expect(res.status).to.equal(200);
    const text = await res.text();
    expect(text).to.contain('[DONE]');
    const spans = await requestSpans(caller.traceId, ['kthena.auth', 'kthena.rate_limit', 'kthena.schedule', 'kthena.upstream']);
    const { upstream } = checkRequestTrace(spans, 'extproc', caller.spanId);
    // 3 tokens, 150 ms before the first and between chunks: at least 450 ms in the engine (300 ms is a safe floor).
    expect(Number(upstream.endNs - upstream.startNs) / 1e6).to.be.at.least(300);
  });

  it('starts a new trace when the caller sends none', async () => {
    const res = await fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, chat({ 'x-request-id': 'trace-new-root' }));
    expect(res.status).to.equal(200);
    await res.json();
    const root = await collector.waitFor((all) => all.find((s) => s.name === 'kthena.request' && s.attributes['kthena.request_id'] === 'trace-new-root'));
    expect(root.parentSpanId).to.equal('');
    const spans = await requestSpans(root.traceId, ['kthena.upstream']);
    const upstream = spans.get('kthena.upstream')!;
    const engine = engines.find((e) => e.address === `${upstream.attributes['server.address']}:${upstream.attributes['server.port']}`)!;
    expect(engine.lastRequest?.headers.traceparent).to.equal(`00-${root.traceId}-${upstream.spanId}-01`);
  });

  it('exports over OTLP/gRPC with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, and flushes queued spans when it stops', async () => {
    const grpcRouter = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')], {
      OTEL_EXPORTER_OTLP_ENDPOINT: collector.grpcEndpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc',
      OTEL_SERVICE_NAME: 'kthena-router-grpc',
      // No scheduled export during the test: the spans leave only with the flush at shutdown.
      OTEL_BSP_SCHEDULE_DELAY: '600000',
    });
    try {
      const caller = callerContext();
      const res = await fetch(`http://127.0.0.1:${grpcRouter.ports.http}/v1/chat/completions`, chat({ traceparent: caller.traceparent }));
      expect(res.status).to.equal(200);
      await res.json();
      expect(await grpcRouter.stop()).to.equal(0);
      const spans = await requestSpans(caller.traceId, ['kthena.auth', 'kthena.rate_limit', 'kthena.schedule', 'kthena.upstream']);
      expect(spans.get('kthena.request')!.resource['service.name']).to.equal('kthena-router-grpc');
    } finally {
      await grpcRouter.stop();
    }
  });

  it("with tracing off the caller's traceparent reaches the engine untouched and nothing is exported", async () => {
    const env = Object.fromEntries(Object.keys(process.env).filter((k) => k.startsWith('OTEL_')).map((k) => [k, '']));
    const plain = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')], env);
    try {
      const caller = callerContext();
      const res = await fetch(`http://127.0.0.1:${plain.ports.http}/v1/chat/completions`, chat({ traceparent: caller.traceparent }));
      expect(res.status).to.equal(200);
      await res.json();
      const served = engines.filter((e) => e.lastRequest?.headers.traceparent?.includes(caller.traceId));
      expect(served.map((e) => e.lastRequest!.headers.traceparent)).to.deep.equal([caller.traceparent]);
      await new Promise((r) => setTimeout(r, 500));
      expect(collector.spans().filter((s) => s.traceId === caller.traceId)).to.deep.equal([]);
      expect(plain.logs.some((l) => l.msg === 'tracing on')).to.equal(false);
    } finally {
      await plain.stop();
    }
  });

  it('a refused request is traced too: the failed auth span and the 401 on the server span, nothing upstream', async () => {
    const caller = callerContext();
    const res = await fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, chat({ traceparent: caller.traceparent, authorization: 'Bearer sk-wrong-0000000000' }));
    expect(res.status).to.equal(401);
    await res.text();
    const spans = await requestSpans(caller.traceId, ['kthena.auth']);
    expect(spans.get('kthena.request')!.attributes['http.response.status_code']).to.equal(401);
    const auth = spans.get('kthena.auth')!;
    expect(auth.statusCode).to.equal(2);
    expect(auth.attributes['error.type']).to.be.a('string').and.not.empty;
    // Give the exporter a few batches: no scheduling or upstream span may follow.
    await new Promise((r) => setTimeout(r, 500));
    const names = collector.spans().filter((s) => s.traceId === caller.traceId).map((s) => s.name);
    expect(names).to.have.members(['kthena.request', 'kthena.auth']);
  });
});
