import { expect } from 'chai';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { OutlierDetector } from '../../../src/providers/outlier-detector.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';
import { chatBody, jsonHeaders, quiet, rankAs, send, startUpstreams, type Upstream } from './harness.js';

// Per-attempt timeouts (issue 12, item 10): a hung pod no longer holds a request until the whole-request timeout.
// The proxy gives up on an attempt that shows no response headers, or no first token of a streamed answer, in time,
// tries the next endpoint while nothing has reached the client, and reports the hung pod to outlier detection.

const SIM = { hung: '127.0.73.10', good: '127.0.73.11' };
const UP = { headersThenSilence: '127.0.73.12', good: '127.0.73.13' };
const MODEL = 'llama';

describe('proxy per-attempt timeouts (hung pods fail over)', function () {
  this.timeout(20_000);
  let sims: SimulatorHandle[];
  let upstreams: Upstream[];
  let datastore: Datastore;
  let outlier: OutlierDetector;
  let proxy: ProxyServer;
  let upstreamPort: number;
  const sim = (ip: string) => sims.find((s) => s.host === ip)!;

  before(async () => {
    const first = await startSimulator({ host: SIM.hung, port: 0, model: MODEL, timeScale: 0.01 });
    sims = [first, await startSimulator({ host: SIM.good, port: first.port, model: MODEL, timeScale: 0.01 })];
    ({ port: upstreamPort, upstreams } = await startUpstreams(Object.values(UP)));
    // Answers an event stream's headers, then never a token.
    upstreams.find((u) => u.ip === UP.headersThenSilence)!.behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.flushHeaders();
    };
    upstreams.find((u) => u.ip === UP.good)!.behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(`data: {"model":"${MODEL}","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: [DONE]\n\n`);
    };
    const server = (name: string, app: string, port: number) => ms(name, { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app } }, workloadPort: { port } });
    const route = (model: string, target: string, trafficPolicy?: object) =>
      mr(`r-${model}`, { modelName: model, rules: [{ targetModels: [{ modelServerName: target }] }], ...(trafficPolicy && { trafficPolicy }) });
    const objects = [
      server('sims', 'sims', first.port),
      route(MODEL, 'sims', { headersTimeout: '1s' }),
      route('llama-default', 'sims'),
      pod('sim-hung', SIM.hung, { app: 'sims' }),
      pod('sim-good', SIM.good, { app: 'sims' }),
      server('streams', 'streams', upstreamPort),
      route('streamer', 'streams', { firstTokenTimeout: '1s' }),
      pod('silent', UP.headersThenSilence, { app: 'streams' }),
      pod('talker', UP.good, { app: 'streams' }),
    ];
    datastore = new Datastore();
    datastore.sinkFor('test').replace(['Pod', 'ModelServer', 'ModelRoute'], objects.map((o) => parseResource(o) as Resource));
    outlier = new OutlierDetector({ enabled: true, consecutiveFailures: 2, baseEjectionMs: 60_000, maxEjectionMs: 60_000 });
    const pipeline = new RoutingPipeline({
      datastore,
      scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(5)),
      maxBodyBytes: 1 << 20,
      random: seeded(6),
      outlier,
      // What the router configuration gives a route without a trafficPolicy of its own.
      attemptTimeouts: { headersMs: 0, firstTokenMs: 0 },
    });
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline, maxBodyBytes: 1 << 20, logger: quiet });
  });
  after(async () => {
    await proxy.close(100);
    await Promise.all([...sims.map((s) => s.close()), ...upstreams.map((u) => u.close())]);
  });

  const hangSim = async (ip: string) => {
    const r = await fetch(`${sim(ip).url}/admin/fail`, { method: 'POST', body: JSON.stringify({ mode: 'hang', scope: 'inference' }) });
    expect(r.status).to.equal(200);
  };
  const timed = async <T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> => {
    const started = performance.now();
    const value = await fn();
    return { value, ms: performance.now() - started };
  };

  it('a pod that never answers headers: the next endpoint answers after the route\'s headersTimeout', async () => {
    await hangSim(SIM.hung);
    rankAs(datastore, [`${SIM.hung}:${sim(SIM.hung).port}`, `${SIM.good}:${sim(SIM.good).port}`]);
    const { value: reply, ms } = await timed(() => send(proxy.port, { headers: jsonHeaders, body: chatBody(MODEL, { max_tokens: 4 }) }));
    expect(reply.status, reply.body).to.equal(200);
    expect(JSON.parse(reply.body).model).to.equal(MODEL);
    // 1 s for the hung attempt, then the good pod; without the per-attempt timeout this never returns.
    expect(ms).to.be.at.least(950).and.below(8_000);
  });

  it('counts the hung pod toward outlier ejection, after which requests skip it', async () => {
    const hung = `${SIM.hung}:${sim(SIM.hung).port}`;
    rankAs(datastore, [hung, `${SIM.good}:${sim(SIM.good).port}`]);
    // The first test's attempt was one failure; this one is the second: ejected.
    expect((await send(proxy.port, { headers: jsonHeaders, body: chatBody(MODEL, { max_tokens: 4 }) })).status).to.equal(200);
    expect(outlier.isEjected(hung)).to.equal(true);
    rankAs(datastore, [hung, `${SIM.good}:${sim(SIM.good).port}`]);
    const { value: reply, ms } = await timed(() => send(proxy.port, { headers: jsonHeaders, body: chatBody(MODEL, { max_tokens: 4 }) }));
    expect(reply.status).to.equal(200);
    expect(ms).to.be.below(900);
  });

  it('a pod that sends an event stream\'s headers but no token: the next endpoint streams after firstTokenTimeout', async () => {
    rankAs(datastore, [`${UP.headersThenSilence}:${upstreamPort}`, `${UP.good}:${upstreamPort}`]);
    const { value: reply, ms } = await timed(() => send(proxy.port, { headers: jsonHeaders, body: chatBody('streamer', { stream: true }) }));
    expect(reply.status).to.equal(200);
    expect(reply.headers['content-type']).to.equal('text/event-stream');
    expect(reply.body).to.contain('"content":"hi"').and.contain('[DONE]');
    expect(ms).to.be.at.least(950).and.below(8_000);
    const silent = upstreams.find((u) => u.ip === UP.headersThenSilence)!;
    expect(silent.seen).to.have.length(1);
    // The abandoned attempt was cancelled: the hung pod's connection is not left open.
    await new Promise((r) => setTimeout(r, 50));
    expect(silent.seen[0]!.aborted).to.equal(true);
  });

  it('answers 504 when every endpoint is hung and no attempt is left', async () => {
    // The first pod is ejected by now and the other one hangs too.
    await hangSim(SIM.good);
    const { value: reply, ms } = await timed(() => send(proxy.port, { headers: jsonHeaders, body: chatBody(MODEL, { max_tokens: 4 }) }));
    expect(reply.status).to.equal(504);
    expect(JSON.parse(reply.body).error.code).to.equal('upstream_timeout');
    expect(ms).to.be.below(8_000);
  });
});
