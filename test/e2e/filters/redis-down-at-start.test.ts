import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvoyClient } from '../../support/envoy-client.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { RedisTestServer } from '../../support/redis.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { scrape, total, waitIdle } from '../../support/router-metrics.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// Issue 12 item 7: a fail-open limit whose Redis is down when the router starts must admit at once — every decision
// within Envoy's default 200 ms message timeout, not after a connect wait (which answered buffered ext_proc requests
// 504) — and be enforced again as soon as Redis is back.

const IP = '127.0.0.149';
const PORT = 18_749;
const LIMIT = 3;
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

describe('e2e: fail-open rate limit with Redis down at start', function () {
  this.timeout(120_000);
  let dir: string;
  let redis: RedisTestServer;
  let sim: SimProcess;
  let router: RouterProcess;
  let client: EnvoyClient;

  const body = { model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 };
  const post = () =>
    fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
  const failOpenDecisions = async () =>
    total(await scrape(router.ports.metrics!), 'kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'open' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-redis-down-'));
    redis = await RedisTestServer.start();
    await redis.kill(); // its port stays reserved for resume()
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT, model: MODEL }),
      modelRouteYaml('llama', 'llama', [`  rateLimit: {requestsPerUnit: ${LIMIT}, unit: hour, global: {redis: {address: "${redis.address}"}}}`]),
      podYaml('llama-0', IP, 'llama'),
    ));
    sim = await startSimProcess(IP, PORT, ['--model', MODEL, '--time-scale', '0', '--max-tokens-cap', '4']);
    router = await startRouterProcess(['--resources', dir]);
    client = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
  });

  after(async () => {
    client?.close();
    await router?.stop();
    await sim?.kill();
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('admits at once while Redis is down: buffered ext_proc requests are routed within the message timeout', async () => {
    const started = performance.now();
    expect(await post(), 'the first request after start').to.equal(200);
    expect(performance.now() - started, 'no connect wait on the first request').to.be.below(1000);
    // Opens the gRPC channel (Envoy keeps its connection to the picker open too).
    expect((await client.exchange({ mode: 'BUFFERED', body, response: null, messageTimeoutMs: 5000 })).outcome).to.equal('routed');
    const slowest: number[] = [];
    for (let i = 0; i < 10; i++) {
      // Envoy's defaults: BUFFERED body, 200 ms message_timeout; the router decides within 90% of that.
      const t = await client.exchange({ mode: 'BUFFERED', body, response: null, messageTimeoutMs: 200 });
      expect(t.outcome, `${t.reason ?? ''} ${t.immediate?.body.toString() ?? ''}`).to.equal('routed');
      slowest.push(t.decisionMs!);
    }
    const statuses = await Promise.all(Array.from({ length: 2 * LIMIT }, post));
    expect(statuses, 'fail-open: more than the limit admitted').to.deep.equal(statuses.map(() => 200));
    expect(await failOpenDecisions()).to.be.at.least(12 + 2 * LIMIT);
    expect(Math.max(...slowest), 'slowest decision, ms').to.be.below(180);
    await waitIdle(router.ports.metrics!);
  });

  it('enforces the limit again once Redis is back', async () => {
    await redis.resume(); // empty: a fresh budget
    await until(
      async () => {
        const before = await failOpenDecisions();
        await post();
        return (await failOpenDecisions()) === before;
      },
      20_000,
      'decisions made with Redis again',
    );
    const statuses: number[] = [];
    for (let i = 0; i < LIMIT + 3; i++) statuses.push(await post());
    expect(statuses.filter((s) => s === 200).length, 'at most the limit, the probe included').to.be.at.most(LIMIT);
    expect(statuses.slice(-3)).to.deep.equal([429, 429, 429]);
    await waitIdle(router.ports.metrics!);
  });
});
