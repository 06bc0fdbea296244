import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { RedisTestServer } from '../../support/redis.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';

// Three router replicas sharing one ModelRoute budget in a real redis-server, with API-key auth, driven through their
// proxies at the same time: the shared budget must hold within 1%.

const PORT = 18_300;
const IPS = ['127.0.0.91', '127.0.0.92'];
const LIMIT = 100;

const resources = (redis: string) =>
  documents(
    modelServerYaml('llama', { port: PORT }),
    modelRouteYaml('llama', 'llama', [
      `  rateLimit: {requestsPerUnit: ${LIMIT}, unit: hour, global: {redis: {address: "${redis}"}}}`,
    ]),
    modelRouteYaml('open', 'llama'),
    ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
  );

// A generous Redis timeout: on a loaded CI machine a 100 ms default could fail open, which is a different test.
const CONFIG = `
rateLimit:
  redis: {timeoutMs: 2000}
auth:
  apiKeys:
    keys:
      - {key: sk-alice-0123456789, user: alice, tier: pro}
      - {key: sk-bob-0123456789, user: bob, models: [open]}
`;

describe('e2e: auth and a Redis-shared rate limit across 3 router replicas', function () {
  this.timeout(60_000);
  let dir: string;
  let redis: RedisTestServer;
  let engines: FakeEngine[] = [];
  let routers: RouterProcess[] = [];

  const post = (r: RouterProcess, model: string, key?: string) =>
    fetch(`http://127.0.0.1:${r.ports.http}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(key ? { authorization: `Bearer ${key}` } : {}) },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }),
    });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-replicas-'));
    redis = await RedisTestServer.start();
    engines = await Promise.all(IPS.map((host) => startFakeEngine({ host, port: PORT, engine: 'vllm' })));
    await writeFile(join(dir, 'fleet.yaml'), resources(redis.address));
    await writeFile(join(dir, 'config.yaml'), CONFIG);
    routers = await Promise.all([0, 1, 2].map(() => startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')])));
  });

  after(async () => {
    await Promise.all(routers.map((r) => r.stop()));
    await Promise.all(engines.map((e) => e.close()));
    await redis?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('rejects missing and invalid keys with 401 and a model outside the key with 403', async () => {
    const none = await post(routers[0]!, 'open');
    expect(none.status).to.equal(401);
    expect((await none.json()).error.type).to.equal('authentication_error');
    expect((await post(routers[1]!, 'open', 'sk-wrong-0123456789')).status).to.equal(401);
    const denied = await post(routers[2]!, 'llama', 'sk-bob-0123456789');
    expect(denied.status).to.equal(403);
    expect((await denied.json()).error.code).to.equal('model_not_allowed');
    expect((await post(routers[2]!, 'open', 'sk-bob-0123456789')).status).to.equal(200);
  });

  it(`admits ${LIMIT} requests per hour in total, whichever replica they reach`, async () => {
    const statuses: number[] = [];
    let last429: Response | undefined;
    await Promise.all(
      routers.flatMap((r) =>
        Array.from({ length: 4 }, async () => {
          for (let i = 0; i < 15; i++) {
            const res = await post(r, 'llama', 'sk-alice-0123456789');
            statuses.push(res.status);
            if (res.status === 429) last429 = res;
            await res.arrayBuffer();
          }
        }),
      ),
    );
    const admitted = statuses.filter((s) => s === 200).length;
    for (const r of routers) {
      const text = await (await fetch(`http://127.0.0.1:${r.ports.metrics}/metrics`)).text();
      expect(text, 'no fail-open decisions').not.to.match(/kthena_router_ratelimit_redis_failure_decisions_total\{[^}]*\} [1-9]/);
    }
    expect(statuses.filter((s) => s !== 200 && s !== 429), 'only 200 or 429').to.deep.equal([]);
    expect(admitted).to.be.within(LIMIT, Math.floor(LIMIT * 1.01));
    expect(Number(last429!.headers.get('retry-after'))).to.be.greaterThan(0);
    expect(last429!.headers.get('x-ratelimit-limit-requests')).to.equal(String(LIMIT));
    expect(last429!.headers.get('x-ratelimit-remaining-requests')).to.equal('0');
  });
});
