import { expect } from 'chai';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { startFakeEngine, type FakeEngine, type FakeEngineState } from '../../support/fake-engine.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { chat, resourcesDir, userMessage } from './harness.js';

const PORT = 18_420;
const IPS = ['127.0.1.21', '127.0.1.22', '127.0.1.23'];
const UPSTREAM = 'meta-llama/Llama-3.1-8B-Instruct';
const IDLE: Partial<FakeEngineState> = { running: 0, waiting: 0, kvCacheUsage: 0, loras: { running: [], waiting: [], max: 1 } };

// The router's scheduling as the unit tests pin it, seen from a client of envoy/envoy.yaml: engines whose /metrics
// the test sets (load, LoRA adapters) behind the real router process and a real Envoy.
describe('e2e through real Envoy: routing follows load, prefix and LoRA state (envoy/envoy.yaml)', function () {
  this.timeout(120_000);
  let res: Awaited<ReturnType<typeof resourcesDir>>;
  let engines: FakeEngine[] = [];
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  /** Sets each engine's state and waits until the router has scraped it twice since. */
  async function fleetState(states: Array<Partial<FakeEngineState>>): Promise<void> {
    const before = engines.map((e) => e.scrapes);
    engines.forEach((e, i) => e.setState({ ...IDLE, ...states[i] }));
    await until(() => engines.every((e, i) => e.scrapes >= before[i]! + 2), 10_000, 'two scrapes of every engine');
  }

  /** Sends the requests one by one and returns how many each engine served. */
  async function servedBy(requests: Array<{ body: Record<string, unknown>; headers?: Record<string, string> }>): Promise<number[]> {
    const before = engines.map((e) => e.served);
    for (const r of requests) {
      const reply = await chat(envoy.url, r.body, r.headers);
      expect(reply.status, reply.text).to.equal(200);
    }
    return engines.map((e, i) => e.served - before[i]!);
  }

  before(async () => {
    engines = await Promise.all(IPS.map((host) => startFakeEngine({ host, port: PORT, engine: 'vllm', state: IDLE })));
    res = await resourcesDir(
      documents(
        modelServerYaml('llama', { port: PORT, model: UPSTREAM }),
        modelRouteYaml('llama', 'llama', ['  loraAdapters: [sql]']),
        ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
      ),
      'metrics: {scrapeIntervalMs: 100}\n',
    );
    router = await startRouterProcess(['--resources', res.dir, '--config', res.config]);
    envoy = await startEnvoyFor(router.ports.grpc);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await Promise.all(engines.map((e) => e.close()));
    await res?.remove();
  });

  it('avoids a busy pod', async () => {
    await fleetState([{ running: 60, waiting: 40, kvCacheUsage: 0.95 }, {}, {}]);
    const counts = await servedBy(
      Array.from({ length: 8 }, (_, i) => ({ body: { model: 'llama', messages: userMessage(`question ${i}`), max_tokens: 2 } })),
    );
    expect(counts[0], `served: ${counts}`).to.equal(0);
    expect(counts[1]! + counts[2]!).to.equal(8);
  });

  it('ignores a client-supplied x-gateway-destination-endpoint naming the busy pod', async () => {
    await fleetState([{ running: 60, waiting: 40, kvCacheUsage: 0.95 }, {}, {}]);
    const counts = await servedBy(
      Array.from({ length: 5 }, (_, i) => ({
        body: { model: 'llama', messages: userMessage(`steer ${i}`), max_tokens: 2 },
        headers: { 'x-gateway-destination-endpoint': engines[0]!.address, 'x-gateway-destination-endpoint-subset': engines[0]!.address },
      })),
    );
    expect(counts[0], `served: ${counts}`).to.equal(0);
  });

  it('keeps repeated long prefixes on one pod', async () => {
    await fleetState([{}, {}, {}]);
    const system = `You are a meticulous assistant. ${'Follow the policy document closely. '.repeat(200)}`;
    const counts = await servedBy(
      Array.from({ length: 6 }, (_, i) => ({
        body: { model: 'llama', messages: [{ role: 'system', content: system }, { role: 'user', content: `case ${i}` }], max_tokens: 2 },
      })),
    );
    expect(counts.filter((c) => c > 0), `served: ${counts}`).to.deep.equal([6]);
  });

  it('routes a LoRA adapter to the pod that has it loaded when the others have no free slot', async () => {
    const full = { loras: { running: ['chat'], waiting: [], max: 1 } };
    await fleetState([full, full, { loras: { running: ['sql'], waiting: [], max: 1 } }]);
    const counts = await servedBy(
      Array.from({ length: 5 }, (_, i) => ({ body: { model: 'sql', messages: userMessage(`select ${i}`), max_tokens: 2 } })),
    );
    expect(counts, `served: ${counts}`).to.deep.equal([0, 0, 5]);
    expect((engines[2]!.lastRequest!.body as { model: string }).model).to.equal('sql');
  });
});
