import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadProtos } from '../../../src/frontends/extproc/index.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';

// The router as users run it: a real process reading resource files, scraping fake vLLM pods that serve vLLM's real
// metric format, and answering an Envoy-behaving ext_proc client.

const PORT = 18_000;
const IPS = ['127.0.0.51', '127.0.0.52', '127.0.0.53'];
const CHAT = { model: 'llama', messages: [{ role: 'user', content: 'hello' }] };

const resources = (ips: string[]) =>
  documents(
    modelServerYaml('llama', { port: PORT, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
    modelRouteYaml('llama', 'llama'),
    ...ips.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
  );

interface HealthStub extends grpc.Client {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: number }) => void): void;
}

describe('router process (files → scrape → ext_proc)', function () {
  this.timeout(30_000);
  let dir: string;
  let engines: FakeEngine[];
  let router: RouterProcess;
  let envoy: EnvoyClient;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-router-'));
    engines = await Promise.all(
      IPS.map((host, i) => startFakeEngine({ host, port: PORT, engine: 'vllm', state: { running: [12, 0, 6][i]! } })),
    );
    await writeFile(join(dir, 'fleet.yaml'), resources(IPS));
    await writeFile(join(dir, 'config.yaml'), 'metrics: {scrapeIntervalMs: 100, staleAfterMs: 1000}\n');
    router = await startRouterProcess(['--resources', dir, '--config', join(dir, 'config.yaml')]);
    envoy = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    await until(() => engines.every((e) => e.scrapes > 1), 5000, 'engines scraped');
  });

  after(async () => {
    envoy?.close();
    await router?.stop();
    await Promise.all(engines.map((e) => e.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('is ready on /readyz and on gRPC health', async () => {
    const res = await fetch(`http://127.0.0.1:${router.ports.metrics}/readyz`);
    expect(res.status).to.equal(200);
    const health = new (loadProtos().HealthClient)(`127.0.0.1:${router.ports.health}`, grpc.credentials.createInsecure()) as unknown as HealthStub;
    const status = await new Promise<number>((resolve, reject) =>
      health.Check({ service: 'readiness' }, (err, r) => (err ? reject(err) : resolve(r!.status))),
    );
    health.close();
    expect(status).to.equal(1);
  });

  it('picks the least-loaded pod, with fallbacks, and rewrites the model', async () => {
    const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: null });
    expect(t.outcome, t.reason).to.equal('routed');
    expect(t.destination!.split(',')).to.deep.equal([`127.0.0.52:${PORT}`, `127.0.0.53:${PORT}`, `127.0.0.51:${PORT}`]);
    expect(t.metadataDestination).to.equal(t.destination);
    expect(JSON.parse(t.upstreamBody.toString()).model).to.equal('meta-llama/Llama-3.1-8B-Instruct');
  });

  it('follows the engines: load moving changes the pick', async () => {
    engines[1]!.setState({ running: 30, waiting: 5 });
    engines[0]!.setState({ running: 0 });
    await until(async () => {
      const t = await envoy.exchange({ mode: 'BUFFERED', body: CHAT, response: { body: { usage: { completion_tokens: 1 } } } });
      return t.destination?.startsWith(`127.0.0.51:${PORT}`) === true;
    }, 5000, 'pick moves to the idle pod');
  });

  it('answers bad requests with OpenAI-style immediate responses', async () => {
    const unknown = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: { ...CHAT, model: 'nope' }, response: null });
    expect(unknown.immediate?.status).to.equal(404);
    expect(JSON.parse(unknown.immediate!.body.toString()).error.code).to.equal('model_not_found');
    const bad = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: Buffer.from('{"model":'), response: null });
    expect(bad.immediate?.status).to.equal(400);
  });

  it('re-reads the resource files: a removed pod is no longer picked', async () => {
    await writeFile(join(dir, 'fleet.yaml'), resources([IPS[1]!, IPS[2]!]));
    await until(async () => {
      const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: null });
      return t.destination !== undefined && !t.destination.includes('127.0.0.51');
    }, 5000, 'pod removed');
  });

  it('exports its own metrics', async () => {
    const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    expect(text).to.match(
      /kthena_router_requests_total\{model="llama",path="\/v1\/chat\/completions",status_code="200",error_type="",model_route="default\/llama",backend_type="model_server",backend_name="default\/llama",upstream_model="[^"]+"\} [1-9]/,
    );
    expect(text).to.contain('kthena_router_decision_duration_seconds_bucket');
    expect(text).to.match(/kthena_router_picks_total\{model_server="server:default\/llama",endpoint="127\.0\.0\.5\d:18000"\}/);
  });

  it('drains and exits 0 on SIGTERM', async () => {
    expect(await router.stop('SIGTERM')).to.equal(0);
  });
});
