import { expect } from 'chai';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { chat, resourcesDir, userMessage } from './harness.js';

const PORT = 18_430;
const IPS = ['127.0.1.31', '127.0.1.32', '127.0.1.33'];
const SERVED = 'x-conformance-test-served-endpoint';

// The picker's ordered list "primary,fallback,..." when the primary is dead. Pod A is the idle one (the router's
// primary), B and C are busier. A is then closed; the router's last scrape of it stays fresh for a minute
// (metrics.staleAfterMs) so it is still the primary: what happens next is Envoy's doing.
describe('e2e through real Envoy: fallback list and served-endpoint feedback', function () {
  this.timeout(120_000);
  let res: Awaited<ReturnType<typeof resourcesDir>>;
  let engines: FakeEngine[] = [];
  let router: RouterProcess;
  const addresses = IPS.map((ip) => `${ip}:${PORT}`);

  before(async () => {
    engines = await Promise.all(
      IPS.map((host, i) => startFakeEngine({ host, port: PORT, engine: 'vllm', state: { running: i * 4, waiting: i * 2 } })),
    );
    res = await resourcesDir(
      documents(
        modelServerYaml('llama', { port: PORT, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
        modelRouteYaml('llama', 'llama'),
        ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
      ),
      // testMode echoes the endpoint the router believes served the request (x-conformance-test-served-endpoint).
      'router: {testMode: true}\nmetrics: {scrapeIntervalMs: 100, staleAfterMs: 60000}\n',
    );
    router = await startRouterProcess(['--resources', res.dir, '--config', res.config]);
    await until(() => engines.every((e) => e.scrapes >= 2), 10_000, 'first scrapes');
  });

  after(async () => {
    await router?.stop();
    await Promise.all(engines.map((e) => e.close()));
    await res?.remove();
  });

  const ask = (envoy: EnvoyProcess, i: number, headers: Record<string, string> = {}) =>
    chat(envoy.url, { model: 'llama', messages: userMessage(`q${i}`), max_tokens: 2 }, headers);

  describe('envoy/envoy-compose.yaml (override_host over the whole list)', () => {
    let envoy: EnvoyProcess;
    before(async () => {
      const cfg = loadBootstrap('envoy/envoy-compose.yaml');
      setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
      setClusterEndpoints(cfg, 'model_servers', IPS.map((host) => ({ host, port: PORT })));
      envoy = await startEnvoy(cfg);
      await envoy.waitHealthy('kthena_router', 1);
    });
    after(async () => envoy?.stop());

    it('serves from the primary while it is up, and Envoy reports it as served', async () => {
      const before = engines[0]!.served;
      for (let i = 0; i < 3; i++) {
        const r = await ask(envoy, i);
        expect(r.status, r.text).to.equal(200);
        expect(r.headers.get(SERVED)).to.equal(addresses[0]);
      }
      expect(engines[0]!.served - before).to.equal(3);
    });

    it('skips a dead primary: the next endpoint serves, and the router learns which one did', async () => {
      await engines[0]!.close();
      const before = engines[1]!.served;
      for (let i = 0; i < 4; i++) {
        const r = await ask(envoy, i);
        expect(r.status, r.text).to.equal(200);
        // Without override_host's selected_host_key the router could only assume its own pick (the dead pod).
        expect(r.headers.get(SERVED)).to.equal(addresses[1]);
      }
      expect(engines[1]!.served - before).to.equal(4);
      const stats = await envoy.stats('cluster.model_servers.');
      expect(stats['cluster.model_servers.upstream_cx_connect_fail']).to.be.at.least(4);
    });
  });

  describe('envoy/envoy.yaml (ORIGINAL_DST: the primary only)', () => {
    let envoy: EnvoyProcess;
    before(async () => {
      envoy = await startEnvoyFor(router.ports.grpc);
    });
    after(async () => envoy?.stop());

    it('retries connect failures on the dead primary itself (num_retries 2), then answers 503', async () => {
      expect(engines[0]!.served, 'A is closed (previous block)').to.be.a('number');
      const served = engines.map((e) => e.served);
      // The dead pod as primary whatever the scheduler thinks of it now (test mode's steering header).
      const r = await ask(envoy, 0, { 'test-epp-endpoint-selection': addresses[0]! });
      expect(r.status, r.text).to.equal(503);
      expect(engines.map((e) => e.served)).to.deep.equal(served);
      const stats = await envoy.stats('cluster.model_servers.');
      expect(stats['cluster.model_servers.upstream_cx_connect_fail'], JSON.stringify(stats)).to.equal(3);
      expect(stats['cluster.model_servers.upstream_rq_retry']).to.equal(2);
    });
  });
});
