import { expect } from 'chai';
import { Redis } from 'ioredis';
import type { Principal } from '../../../src/filters/auth/index.js';
import { parseRateLimitConfig, RateLimiter, type ReserveRequest } from '../../../src/filters/ratelimit/index.js';
import { registry } from '../../../src/observability/metrics.js';
import type { RouteRateLimit } from '../../../src/resources/types.js';
import { RedisTestServer } from '../../support/redis.js';

const alice: Principal = { user: 'alice', tenant: 'acme', tier: 'free', groups: [], method: 'api-key' };

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)!.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((a, v) => a + v.value, 0);
}

const settle = () => new Promise((r) => setTimeout(r, 50));

describe('ratelimit: Redis store against a real redis-server', function () {
  this.timeout(30_000);
  let redis: RedisTestServer;
  let inspect: Redis;
  const limiters: RateLimiter[] = [];
  const make = (raw: Record<string, unknown>) => {
    const l = new RateLimiter(parseRateLimitConfig(raw));
    limiters.push(l);
    return l;
  };
  const req = (over: Partial<ReserveRequest> = {}): ReserveRequest => ({
    principal: alice,
    model: 'llama',
    inputTokens: 10,
    maxOutputTokens: 0,
    ...over,
  });

  before(async () => {
    redis = await RedisTestServer.start();
    inspect = new Redis({ host: redis.host, port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    inspect.on('error', () => undefined); // the test kills Redis on purpose
  });
  beforeEach(async () => {
    await redis.resume();
    if (inspect.status !== 'ready') await inspect.connect().catch(() => undefined);
    await inspect.flushall();
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
  });
  after(async () => {
    inspect.disconnect();
    await redis.stop();
  });

  for (const algorithm of ['token-bucket', 'sliding-window']) {
    it(`${algorithm}: gives the same answers as the in-memory store`, async () => {
      const tiers = { free: { requestsPerUnit: 5, inputTokensPerUnit: 100, outputTokensPerUnit: 300, unit: 'hour' } };
      const remote = make({ algorithm, tiers, redis: { address: redis.address, timeoutMs: 1000 } });
      const local = make({ algorithm, tiers });
      const steps = [
        { inputTokens: 30, maxOutputTokens: 200 },
        { inputTokens: 30, maxOutputTokens: 200 },
        { inputTokens: 50, maxOutputTokens: 10 },
        { inputTokens: 20, maxOutputTokens: 50 },
        { inputTokens: 20, maxOutputTokens: 50 },
        { inputTokens: 1, maxOutputTokens: 1 },
      ];
      for (const s of steps) {
        const [a, b] = [await remote.reserve(req(s)), await local.reserve(req(s))];
        expect(a.ok, JSON.stringify(s)).to.equal(b.ok);
        const strip = (h: Record<string, string>) =>
          Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('x-ratelimit-reset') && k !== 'retry-after'));
        expect(strip(a.headers)).to.deep.equal(strip(b.headers));
        if (a.ok && b.ok) {
          a.reservation.commit(5);
          b.reservation.commit(5);
          await settle();
        }
      }
    });
  }

  it("serves a ModelRoute's global.redis limit with one Cluster-safe key per subject, expiring", async () => {
    const routeLimit: RouteRateLimit = {
      inputTokensPerUnit: 50,
      unit: 'minute',
      global: { redis: { address: redis.address } },
    };
    const a = make({});
    const b = make({}); // a second replica in the same process
    expect((await a.reserve(req({ routeKey: 'ns/r1', routeLimit, inputTokens: 30 }))).ok).to.equal(true);
    const r = await b.reserve(req({ routeKey: 'ns/r1', routeLimit, inputTokens: 30 }));
    expect(r.ok).to.equal(false);
    const keys = await inspect.keys('*');
    expect(keys).to.deep.equal(['kthena:rl:tb:{route:ns%2Fr1}']);
    const ttl = await inspect.pttl(keys[0]!);
    expect(ttl).to.be.within(1, 61_000 + 1000);
  });

  it('fail-open admits and counts the decision while Redis is down, then recovers', async () => {
    const tiers = { free: { requestsPerUnit: 2, unit: 'hour' } };
    const l = make({ tiers, redis: { address: redis.address, timeoutMs: 200, failureMode: 'fail-open' } });
    expect((await l.reserve(req())).ok).to.equal(true);
    await redis.kill();
    const openBefore = await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'open' });
    const errorsBefore = await metricValue('kthena_router_ratelimit_redis_errors_total', { operation: 'acquire' });
    for (let i = 0; i < 4; i++) {
      const t0 = Date.now();
      expect((await l.reserve(req())).ok).to.equal(true); // would be refused after 2 with Redis up
      expect(Date.now() - t0).to.be.below(1000);
    }
    expect(await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'open' })).to.equal(openBefore + 4);
    expect(await metricValue('kthena_router_ratelimit_redis_errors_total', { operation: 'acquire' })).to.equal(errorsBefore + 4);

    await redis.resume(); // empty: no persistence
    // Fail-open admits at once, so an admission says nothing: recovered once a decision is no longer a fail-open one.
    await waitFor(async () => {
      const open = await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'open' });
      await l.reserve(req());
      return (await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'open' })) === open;
    });
    // Limits apply again: one more fits in the fresh bucket, then 429.
    let refused = false;
    for (let i = 0; i < 3 && !refused; i++) refused = !(await l.reserve(req())).ok;
    expect(refused).to.equal(true);
  });

  it('fail-closed refuses with 503 while Redis is down', async () => {
    const l = make({
      tiers: { free: { requestsPerUnit: 100, unit: 'hour' } },
      redis: { address: redis.address, timeoutMs: 200, failureMode: 'fail-closed' },
    });
    expect((await l.reserve(req())).ok).to.equal(true);
    await redis.kill();
    const closedBefore = await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'closed' });
    const r = await l.reserve(req());
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      expect(r.status).to.equal(503);
      expect(r.code).to.equal('rate_limit_unavailable');
    }
    expect(await metricValue('kthena_router_ratelimit_redis_failure_decisions_total', { decision: 'closed' })).to.equal(closedBefore + 1);
    await redis.resume();
    await waitFor(async () => (await l.reserve(req())).ok);
  });

  it('commit and release never throw while Redis is down', async () => {
    const l = make({ tiers: { free: { outputTokensPerUnit: 1000, unit: 'hour' } }, redis: { address: redis.address, timeoutMs: 200 } });
    const a = await l.reserve(req({ maxOutputTokens: 100 }));
    const b = await l.reserve(req({ maxOutputTokens: 100 }));
    await redis.kill();
    const before = await metricValue('kthena_router_ratelimit_redis_errors_total', {});
    expect(() => a.ok && a.reservation.commit(10)).not.to.throw();
    expect(() => b.ok && b.reservation.release()).not.to.throw();
    await waitFor(async () => (await metricValue('kthena_router_ratelimit_redis_errors_total', {})) >= before + 2);
  });
});

async function waitFor(cond: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 100));
  }
}
