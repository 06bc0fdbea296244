import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import {
  findCluster,
  httpFilters,
  loadBootstrap,
  setClusterEndpoints,
  startEnvoy,
  type EnvoyBootstrap,
  type EnvoyProcess,
} from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// GIE / llm-d endpoint-picker parity through real Envoy 1.40: what Envoy reports as the served endpoint and how the
// conformance hook shows it, the model rewrite header (stripped from clients, honoured from the gateway), and the
// drop-reason header on the picker's local replies.

const PORT = 18_740;
const LIVE = ['127.0.0.141', '127.0.0.142'];
/** A Ready pod with nothing listening: a primary Envoy cannot connect to. */
const DEAD = '127.0.0.143';
const SERVED = 'x-conformance-test-served-endpoint';
const CHAT = { model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };

describe('e2e through real Envoy: GIE / llm-d picker parity', function () {
  this.timeout(180_000);
  let dir: string;
  let sims: SimProcess[] = [];
  let router: RouterProcess;
  const envoys: EnvoyProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-parity-'));
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT }),
      modelRouteYaml('llama', 'llama'),
      ...[...LIVE, DEAD].map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
    ));
    await writeFile(join(dir, 'config.yaml'), 'router: {testMode: true}\n');
    sims = await Promise.all(LIVE.map((ip) => startSimProcess(ip, PORT, ['--time-scale', '0', '--max-tokens-cap', '4', '--model', 'llama'])));
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')]);
  });

  afterEach(async () => {
    await Promise.all(envoys.splice(0).map((e) => e.stop()));
  });

  after(async () => {
    await router?.stop();
    await Promise.all(sims.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  });

  /** A shipped bootstrap pointed at this router and, for a cluster of known hosts, at these pods. */
  async function envoyFrom(file: string, edit: (cfg: EnvoyBootstrap) => void = () => undefined): Promise<EnvoyProcess> {
    const cfg = loadBootstrap(file);
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    if (file.endsWith('envoy-compose.yaml')) setClusterEndpoints(cfg, 'model_servers', [...LIVE, DEAD].map((host) => ({ host, port: PORT })));
    edit(cfg);
    const envoy = await startEnvoy(cfg);
    envoys.push(envoy);
    await envoy.waitHealthy('kthena_router', 1);
    return envoy;
  }

  function chat(envoy: EnvoyProcess, headers: Record<string, string> = {}, body: object = CHAT): Promise<Response> {
    return fetch(`${envoy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  }

  async function picks(address: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('kthena_router_picks_total') && l.includes(`endpoint="${address}"`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  }

  describe('served-endpoint feedback and the conformance hook', () => {
    it('envoy-compose.yaml reports the endpoint that really served, also when the primary was dead', async () => {
      const envoy = await envoyFrom('envoy/envoy-compose.yaml');
      const dead = `${DEAD}:${PORT}`;
      const before = await picks(dead);
      // Steered to the dead pod and one live pod; distinct prompts so prefix affinity does not pin one of them.
      for (let i = 0; i < 12 && (await picks(dead)) - before < 2; i++) {
        const res = await chat(envoy, { 'test-epp-endpoint-selection': `${DEAD},${LIVE[0]}` }, {
          ...CHAT,
          messages: [{ role: 'user', content: `question ${i}` }],
        });
        expect(res.status, await res.clone().text()).to.equal(200);
        // Whatever the pick, only the live pod can have answered: Envoy's override_host retried the fallback.
        expect(res.headers.get(SERVED)).to.equal(`${LIVE[0]}:${PORT}`);
        await res.arrayBuffer();
      }
      expect((await picks(dead)) - before, 'the dead pod was the primary at least once').to.be.greaterThan(0);
    });

    it('with envoy.lb forwarded but no served key written: "fail: missing destination endpoint served metadata"', async () => {
      const envoy = await envoyFrom('envoy/envoy-compose.yaml', (cfg) => {
        delete findCluster(cfg, 'model_servers').load_balancing_policy.policies[0].typed_extension_config.typed_config.selected_host_key;
      });
      const res = await chat(envoy);
      expect(res.status).to.equal(200);
      // Envoy forwards only the picker's own envoy.lb key back: the hook must not pass that off as served.
      expect(res.headers.get(SERVED)).to.equal('fail: missing destination endpoint served metadata');
    });

    it('envoy.yaml (ORIGINAL_DST, no envoy.lb forwarded): "fail: missing envoy lb metadata"', async () => {
      const envoy = await envoyFrom('envoy/envoy.yaml');
      // ORIGINAL_DST tries the primary only: keep the dead pod out of the pick.
      const res = await chat(envoy, { 'test-epp-endpoint-selection': LIVE[0]! });
      expect(res.status).to.equal(200);
      expect(res.headers.get(SERVED)).to.equal('fail: missing envoy lb metadata');
    });
  });

  describe('model rewrite header', () => {
    for (const name of ['x-llm-d-model-name-rewrite', 'x-gateway-model-name-rewrite']) {
      it(`strips a client's ${name} in the shipped bootstraps`, async () => {
        const envoy = await envoyFrom('envoy/envoy-compose.yaml');
        // Honoured, this would send the engine a model it does not serve (404).
        const res = await chat(envoy, { [name]: 'not-served' });
        expect(res.status, await res.clone().text()).to.equal(200);
        expect(((await res.json()) as { model: string }).model).to.equal('llama');
      });
    }

    it('honours the header when the gateway sets it (a header_mutation filter after the strip filter)', async () => {
      const envoy = await envoyFrom('envoy/envoy-compose.yaml', (cfg) => {
        const filters = httpFilters(cfg);
        const at = filters.findIndex((f) => f.name === 'envoy.filters.http.ext_proc');
        filters.splice(at, 0, {
          name: 'gateway.set_model_rewrite',
          typed_config: {
            '@type': 'type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation',
            mutations: {
              request_mutations: [
                { append: { header: { key: 'x-llm-d-model-name-rewrite', value: 'not-served' }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } },
              ],
            },
          },
        });
      });
      const res = await chat(envoy);
      // The engine got the rewritten model name, which it does not serve.
      expect(res.status).to.equal(404);
      expect(await res.text()).to.contain('not-served');
    });
  });

  it('a no-endpoint rejection reaches the client with x-llm-d-request-dropped-reason: rejected-no-endpoints', async () => {
    const envoy = await envoyFrom('envoy/envoy-compose.yaml');
    const res = await chat(envoy, { 'test-epp-endpoint-selection': '10.9.9.9' });
    expect(res.status).to.equal(503);
    expect(res.headers.get('x-llm-d-request-dropped-reason')).to.equal('rejected-no-endpoints');
    expect(((await res.json()) as { error: { code: string } }).error.code).to.equal('no_ready_endpoint');
  });
});
