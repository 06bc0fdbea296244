import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

const PORT = 18_300;
const IPS = ['127.0.0.81', '127.0.0.82'];

describe('e2e through real Envoy: envoy/envoy.yaml', function () {
  this.timeout(120_000);
  let dir: string;
  let sims: SimProcess[] = [];
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-e2e-'));
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
      modelRouteYaml('llama', 'llama'),
      ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
    ));
    sims = await Promise.all(IPS.map((ip) => startSimProcess(ip, PORT, ['--time-scale', '0', '--max-tokens-cap', '4', '--model', 'meta-llama/Llama-3.1-8B-Instruct'])));
    router = await startRouterProcess(['--resources', dir]);
    const cfg = loadBootstrap('envoy/envoy.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    envoy = await startEnvoy(cfg);
    await envoy.waitHealthy('kthena_router', 1);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await Promise.all(sims.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a chat completion', async () => {
    const res = await fetch(`${envoy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { model: string };
    expect(body.model).to.equal('llama');
  });
});
