import { expect } from 'chai';
import type { Principal } from '../../../src/filters/auth/index.js';
import { parseRateLimitConfig, RateLimiter, type ReserveRequest } from '../../../src/filters/ratelimit/index.js';
import { logger } from '../../../src/observability/logger.js';
import { RedisTestServer } from '../../support/redis.js';

// The read-only request-count check the pipeline runs before counting a big prompt's tokens: it refuses exactly when
// `reserve` would refuse on requests, and takes nothing, in memory and in Redis alike.

const alice: Principal = { user: 'alice', tenant: 'acme', tier: 'free', groups: [], method: 'api-key' };
const req: ReserveRequest = { principal: alice, model: 'llama', inputTokens: 10, maxOutputTokens: 0 };

describe('ratelimit: precheck of the request count', function () {
  this.timeout(30_000);
  let redis: RedisTestServer;
  const limiters: RateLimiter[] = [];
  before(async () => {
    redis = await RedisTestServer.start();
  });
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
  });
  after(async () => {
    await redis.stop();
  });

  for (const store of ['memory', 'redis'] as const) {
    for (const algorithm of ['token-bucket', 'sliding-window']) {
      it(`${store}, ${algorithm}: refuses once the requests are spent, and takes nothing itself`, async () => {
        const l = new RateLimiter(
          parseRateLimitConfig({
            algorithm,
            keyPrefix: `precheck-${algorithm}`,
            tiers: { free: { requestsPerUnit: 3, inputTokensPerUnit: 1_000_000, unit: 'minute' } },
            ...(store === 'redis' && { redis: { address: redis.address, timeoutMs: 2000 } }),
          }),
        );
        limiters.push(l);
        for (let i = 0; i < 3; i++) {
          // Checking many times spends nothing: all three requests still fit.
          for (let k = 0; k < 5; k++) expect(await l.precheck(req)).to.equal(undefined);
          expect((await l.reserve(req)).ok).to.equal(true);
        }
        const refused = await l.precheck(req);
        expect(refused).to.deep.include({ ok: false, status: 429, code: 'rate_limit_exceeded' });
        expect(refused!.ok === false && refused!.message).to.match(/request rate limit exceeded/);
        expect((await l.reserve(req)).ok).to.equal(false);
      });
    }
  }

  it('lets the request on to reserve when Redis cannot answer', async () => {
    const level = logger.level;
    logger.level = 'silent'; // the unreachable Redis is logged, on purpose
    const l = new RateLimiter(
      parseRateLimitConfig({
        tiers: { free: { requestsPerUnit: 1, unit: 'minute' } },
        redis: { address: '127.0.0.1:1', timeoutMs: 200 },
      }),
    );
    try {
      const t0 = Date.now();
      expect(await l.precheck(req)).to.equal(undefined);
      expect(Date.now() - t0).to.be.below(150); // no wait for a connection
    } finally {
      await l.close();
      logger.level = level;
    }
  });
});
