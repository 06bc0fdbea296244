import { expect } from 'chai';
import { findHttpFilter, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { closedLoop, failedCount } from '../../support/closed-loop.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { chat, startSimFleet, streamFailures, type SimFleet } from './fleet.js';

// Sustained load through real Envoy (envoy/envoy.yaml) in front of the real router: Envoy resets every ext_proc
// stream when it is done with it, and nghttp2 (inside Node) turns too many resets on one connection into a
// GOAWAY. Before the bootstrap capped requests per router connection, this dropped requests with 503 after
// ~1,000 exchanges per connection.

const PORT = 18_700;
const IPS = ['127.0.0.201', '127.0.0.202'];
const TOTAL = Number(process.env.KTHENA_ENVOY_LOAD_REQUESTS ?? 20_000);

describe('e2e through real Envoy: sustained load', function () {
  this.timeout(600_000);
  let fleet: SimFleet;
  let router: RouterProcess;

  before(async () => {
    fleet = await startSimFleet(IPS, PORT);
    router = await startRouterProcess(['--resources', fleet.dir]);
  });

  after(async () => {
    await router?.stop();
    await fleet?.stop();
  });

  async function withEnvoy(messageTimeout: string | undefined, run: (envoy: EnvoyProcess) => Promise<void>): Promise<void> {
    const cfg = loadBootstrap('envoy/envoy.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    if (messageTimeout) findHttpFilter(cfg, 'envoy.filters.http.ext_proc').message_timeout = messageTimeout;
    const envoy = await startEnvoy(cfg);
    try {
      await envoy.waitHealthy('kthena_router', 1);
      await run(envoy);
    } finally {
      await envoy.stop();
    }
  }

  for (const concurrency of [32, 128]) {
    it(`serves ${TOTAL} requests at ${concurrency} concurrent with no 5xx and no counted stream failure`, async () => {
      await withEnvoy(undefined, async (envoy) => {
        const before = await streamFailures(router.ports.metrics!);
        const r = await closedLoop({ url: envoy.url, total: TOTAL, concurrency, body: chat });
        const after = await streamFailures(router.ports.metrics!);
        const stats = await envoy.stats('cluster.kthena_router.');
        console.log(`      ${TOTAL} requests at ${concurrency}: ${Math.round(r.durationMs)} ms, ${Math.round(TOTAL / (r.durationMs / 1000))} req/s; Envoy resets sent ${stats['cluster.kthena_router.http2.tx_reset']}, cx total ${stats['cluster.kthena_router.upstream_cx_total']}`);
        expect(failedCount(r), JSON.stringify({ statuses: r.statuses, errors: r.errors, samples: r.samples })).to.equal(0);
        expect(r.statuses[200]).to.equal(TOTAL);
        expect(after.total - before.total, after.text).to.equal(0);
      });
    });
  }

  for (const [name, timeout] of [["Envoy's default 200 ms", '0.2s'], ["the bootstrap's own", undefined]] as const) {
    it(`64 concurrent with ${name} message_timeout: no ext_proc timeout, no 5xx`, async () => {
      await withEnvoy(timeout, async (envoy) => {
        const r = await closedLoop({ url: envoy.url, total: 3_000, concurrency: 64, body: chat });
        const stats = await envoy.stats('ext_proc');
        const timeouts = Object.entries(stats).filter(([k]) => k.includes('message_timeouts')).reduce((n, [, v]) => n + v, 0);
        expect(Object.keys(stats).some((k) => k.includes('message_timeouts')), Object.keys(stats).join(',')).to.equal(true);
        expect(timeouts).to.equal(0);
        expect(failedCount(r), JSON.stringify({ statuses: r.statuses, errors: r.errors, samples: r.samples })).to.equal(0);
      });
    });
  }
});
