import { expect } from 'chai';
import { loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { closedLoop, failedCount } from '../../support/closed-loop.js';
import { freePort, startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { chat, startSimFleet, type SimFleet } from './fleet.js';

// Availability of the picker behind real Envoy (envoy/envoy.yaml): fail closed while it is down, serve again
// when it is back, and lose nothing while replicas restart one after the other.

const PORT = 18_710;
const IPS = ['127.0.0.203', '127.0.0.204'];

async function post(envoy: EnvoyProcess): Promise<{ status: number; ms: number }> {
  const start = performance.now();
  const res = await fetch(`${envoy.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(chat(0)),
  });
  await res.arrayBuffer();
  return { status: res.status, ms: performance.now() - start };
}

describe('e2e through real Envoy: picker availability', function () {
  this.timeout(180_000);
  let fleet: SimFleet;

  before(async () => {
    fleet = await startSimFleet(IPS, PORT);
  });

  after(async () => {
    await fleet?.stop();
  });

  it('fails closed with a quick 503 while the picker is down, and serves again once it is back', async () => {
    const grpcPort = await freePort();
    let router = await startRouterProcess(['--resources', fleet.dir, '--grpc-port', String(grpcPort)]);
    const cfg = loadBootstrap('envoy/envoy.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: grpcPort }]);
    const envoy = await startEnvoy(cfg);
    try {
      await envoy.waitHealthy('kthena_router', 1);
      expect((await post(envoy)).status).to.equal(200);

      await router.stop('SIGKILL');
      const down = [];
      for (let i = 0; i < 5; i++) down.push(await post(envoy));
      console.log(`      picker down: ${down.map((d) => `${d.status} in ${Math.round(d.ms)} ms`).join(', ')}`);
      for (const d of down) {
        expect(d.status).to.equal(503);
        // A refused connection fails at once; the bound leaves room for a loaded CI machine.
        expect(d.ms).to.be.below(1_500);
      }

      router = await startRouterProcess(['--resources', fleet.dir, '--grpc-port', String(grpcPort)]);
      const back = performance.now();
      await until(async () => (await post(envoy)).status === 200, 20_000, 'served again');
      console.log(`      picker back: served again after ${Math.round(performance.now() - back)} ms`);
    } finally {
      await envoy.stop();
      await router.stop();
    }
  });

  it('loses no request while two replicas restart one after the other under steady load', async () => {
    const ports = [await freePort(), await freePort()];
    const start = (port: number) => startRouterProcess(['--resources', fleet.dir, '--grpc-port', String(port)]);
    const routers: RouterProcess[] = await Promise.all(ports.map(start));
    const cfg = loadBootstrap('envoy/envoy.yaml');
    setClusterEndpoints(cfg, 'kthena_router', ports.map((port) => ({ host: '127.0.0.1', port })));
    const envoy = await startEnvoy(cfg);
    const stopLoad = new AbortController();
    try {
      await envoy.waitHealthy('kthena_router', 2);
      const load = closedLoop({ url: envoy.url, total: 1_000_000, concurrency: 16, body: chat, signal: stopLoad.signal });
      const servedBy = async (i: number) => {
        const before = await requestsOf(routers[i]!);
        await until(async () => (await requestsOf(routers[i]!)) > before, 20_000, `replica ${i} serving`);
      };
      await servedBy(0);
      await servedBy(1);
      for (const i of [0, 1]) {
        const exit = await routers[i]!.stop('SIGTERM');
        expect(exit, `replica ${i} exit code`).to.equal(0);
        routers[i] = await start(ports[i]!);
        await envoy.waitHealthy('kthena_router', 2);
        await servedBy(i);
      }
      stopLoad.abort();
      const r = await load;
      console.log(`      rolling restart: ${r.sent} requests, ${JSON.stringify(r.statuses)} in ${Math.round(r.durationMs)} ms`);
      expect(failedCount(r), JSON.stringify({ statuses: r.statuses, errors: r.errors, samples: r.samples })).to.equal(0);
      expect(r.statuses[200]).to.be.greaterThan(100);
    } finally {
      stopLoad.abort();
      await envoy.stop();
      await Promise.all(routers.map((x) => x.stop()));
    }
  });
});

/** Requests this replica has routed (its ext_proc streams opened), from its metrics. */
async function requestsOf(router: RouterProcess): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
  return text
    .split('\n')
    .filter((l) => l.startsWith('kthena_router_requests_total'))
    .reduce((n, l) => n + Number(l.split(' ').at(-1)), 0);
}
