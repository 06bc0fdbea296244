import { expect } from 'chai';
import type { Principal } from '../../../src/filters/auth/index.js';
import { ConfigError } from '../../../src/filters/auth/index.js';
import { formatDuration, parseRateLimitConfig, RateLimiter, type ReserveRequest } from '../../../src/filters/ratelimit/index.js';
import { registry } from '../../../src/observability/metrics.js';
import type { RouteRateLimit } from '../../../src/resources/types.js';

const alice: Principal = { user: 'alice', tenant: 'acme', tier: 'free', groups: [], method: 'api-key' };
const bob: Principal = { user: 'bob', tenant: 'acme', tier: 'free', groups: [], method: 'api-key' };

async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const m = await registry.getSingleMetric(name)!.get();
  return m.values
    .filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val))
    .reduce((a, v) => a + v.value, 0);
}

describe('ratelimit: limiter (in-memory)', () => {
  let now = 1_000_000;
  const clock = () => now;
  const limiters: RateLimiter[] = [];
  const make = (raw: unknown) => {
    const l = new RateLimiter(parseRateLimitConfig(raw), { now: clock });
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
  afterEach(async () => {
    await Promise.all(limiters.splice(0).map((l) => l.close()));
  });

  it('limits requests per user by tier, with OpenAI-style headers on success and on 429', async () => {
    const l = make({ tiers: { free: { requestsPerUnit: 3, unit: 'minute' } } });
    for (let i = 0; i < 3; i++) {
      const r = await l.reserve(req());
      expect(r.ok).to.equal(true);
      expect(r.headers).to.include({ 'x-ratelimit-limit-requests': '3', 'x-ratelimit-remaining-requests': String(2 - i) });
    }
    const before = await metricValue('kthena_router_ratelimit_rejections_total', { key_type: 'user', dimension: 'requests' });
    const r = await l.reserve(req());
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.status).to.equal(429);
    expect(r.code).to.equal('rate_limit_exceeded');
    expect(r.message).to.match(/^request rate limit exceeded \(user acme\/alice: 3 per minute\); retry after 20s\.$/);
    expect(r.headers).to.deep.equal({
      'x-ratelimit-limit-requests': '3',
      'x-ratelimit-remaining-requests': '0',
      'x-ratelimit-reset-requests': '1m0s',
      'retry-after': '20',
    });
    expect(await metricValue('kthena_router_ratelimit_rejections_total', { key_type: 'user', dimension: 'requests' })).to.equal(before + 1);
    // Another user has their own budget.
    expect((await l.reserve(req({ principal: bob }))).ok).to.equal(true);
    // Refill: one request per 20 s.
    now += 20_000;
    expect((await l.reserve(req())).ok).to.equal(true);
  });

  it("enforces a ModelRoute's Kthena rateLimit on input tokens for the whole route", async () => {
    const l = make(undefined);
    const routeLimit: RouteRateLimit = { inputTokensPerUnit: 100, outputTokensPerUnit: 5000, unit: 'minute' };
    const route = { routeKey: 'default/deepseek', routeLimit };
    expect((await l.reserve(req({ ...route, inputTokens: 60 }))).ok).to.equal(true);
    const r = await l.reserve(req({ ...route, principal: bob, inputTokens: 60 }));
    expect(r.ok).to.equal(false);
    if (!r.ok) {
      expect(r.message).to.match(/^input token rate limit exceeded \(route default\/deepseek: 100 per minute\)/);
      expect(r.headers['x-ratelimit-remaining-tokens']).to.equal('40');
      expect(r.headers['retry-after']).to.equal('12');
    }
    // A prompt bigger than the whole budget can never pass: say so instead of asking to retry.
    const big = await l.reserve(req({ ...route, inputTokens: 101 }));
    expect(big.ok || big.code).to.equal('request_too_large');
  });

  it('reserves max_tokens up front and reconciles with the real output on commit', async () => {
    const l = make({ users: { alice: { outputTokensPerUnit: 1000, unit: 'hour' } } });
    const a = await l.reserve(req({ maxOutputTokens: 800 }));
    expect(a.ok && a.headers['x-ratelimit-remaining-output-tokens']).to.equal('200');
    expect((await l.reserve(req({ maxOutputTokens: 300 }))).ok).to.equal(false);
    if (!a.ok) return;
    a.reservation.commit(100); // used 100 of 800: 700 come back
    a.reservation.commit(999); // second settle is ignored
    await new Promise((r) => setImmediate(r));
    const b = await l.reserve(req({ maxOutputTokens: 300 }));
    expect(b.ok && b.headers['x-ratelimit-remaining-output-tokens']).to.equal('600');
    if (!b.ok) return;
    b.reservation.commit(900); // 600 more than reserved: the bucket goes into debt
    await new Promise((r) => setImmediate(r));
    expect((await l.reserve(req({ maxOutputTokens: 1 }))).ok).to.equal(false);
  });

  it('commit without a known output keeps the input and the reserved max_tokens share, and settles the gauge', async () => {
    const l = make({ users: { alice: { inputTokensPerUnit: 100, outputTokensPerUnit: 1000, unit: 'hour' } } });
    const open = await metricValue('kthena_router_ratelimit_reservations_open', {});
    const a = await l.reserve(req({ inputTokens: 60, maxOutputTokens: 800 }));
    expect(await metricValue('kthena_router_ratelimit_reservations_open', {})).to.equal(open + 1);
    if (!a.ok) throw new Error('expected a grant');
    a.reservation.commit(undefined);
    expect(await metricValue('kthena_router_ratelimit_reservations_open', {})).to.equal(open);
    await new Promise((r) => setImmediate(r));
    expect((await l.reserve(req({ inputTokens: 50 }))).ok, 'input stays charged').to.equal(false);
    const b = await l.reserve(req({ inputTokens: 1, maxOutputTokens: 300 }));
    expect(b.ok, 'output share stays charged').to.equal(false);
  });

  it('release gives back everything a failed request took', async () => {
    const l = make({ tiers: { free: { requestsPerUnit: 1, inputTokensPerUnit: 50, unit: 'minute' } } });
    const a = await l.reserve(req({ inputTokens: 50 }));
    expect((await l.reserve(req({ inputTokens: 1 }))).ok).to.equal(false);
    if (a.ok) a.reservation.release();
    await new Promise((r) => setImmediate(r));
    expect((await l.reserve(req({ inputTokens: 50 }))).ok).to.equal(true);
  });

  it('is all-or-nothing across subjects: a refusal by one returns what the others took', async () => {
    const l = make({
      tiers: {
        free: { requestsPerUnit: 100, unit: 'minute', shared: { requestsPerUnit: 2, unit: 'minute' } },
        pro: { requestsPerUnit: 100, unit: 'minute' },
      },
      models: { 'llama*': { requestsPerUnit: 100, unit: 'minute' } },
    });
    expect((await l.reserve(req())).ok).to.equal(true);
    expect((await l.reserve(req({ principal: bob }))).ok).to.equal(true);
    const r = await l.reserve(req());
    expect(r.ok).to.equal(false);
    if (!r.ok) expect(r.message).to.match(/tier free: 2 per minute/);
    await new Promise((res) => setImmediate(res));
    // The model budget saw alice and bob only: the refused request's share came back (97 left, not 96).
    const pro = await l.reserve(req({ principal: { ...alice, user: 'carol', tier: 'pro' } }));
    expect(pro.ok && pro.headers['x-ratelimit-remaining-requests']).to.equal('97');
  });

  it('uses the default tier for callers without a known tier, and per-user overrides', async () => {
    const l = make({
      defaultTier: 'free',
      tiers: { free: { requestsPerUnit: 1, unit: 'minute' }, pro: { requestsPerUnit: 100, unit: 'minute' } },
      users: { vip: { requestsPerUnit: 1000, unit: 'minute' } },
    });
    const anon: Principal = { user: 'anonymous', tenant: 'anonymous', groups: [], method: 'anonymous' };
    expect((await l.reserve(req({ principal: anon }))).ok).to.equal(true);
    expect((await l.reserve(req({ principal: anon }))).ok).to.equal(false);
    const vip = await l.reserve(req({ principal: { ...alice, user: 'vip' } }));
    expect(vip.ok && vip.headers['x-ratelimit-limit-requests']).to.equal('1000');
  });

  it('admits everything and still counts tokens when no limit applies', async () => {
    const l = make(undefined);
    const before = await metricValue('kthena_router_tenant_tokens_total', { token_type: 'input', model: 'free-model', tenant: 'acme' });
    const r = await l.reserve(req({ model: 'free-model', inputTokens: 42 }));
    expect(r.ok && r.headers).to.deep.equal({});
    expect(await metricValue('kthena_router_tenant_tokens_total', { token_type: 'input', model: 'free-model', tenant: 'acme' })).to.equal(before + 42);
    if (r.ok) r.reservation.commit(7);
    expect(await metricValue('kthena_router_tenant_tokens_total', { token_type: 'output', model: 'free-model', tenant: 'acme' })).to.be.at.least(7);
  });

  it('works the same with the sliding-window algorithm', async () => {
    const l = make({ algorithm: 'sliding-window', tiers: { free: { inputTokensPerUnit: 100, unit: 'second' } } });
    expect((await l.reserve(req({ inputTokens: 70 }))).ok).to.equal(true);
    expect((await l.reserve(req({ inputTokens: 40 }))).ok).to.equal(false);
    now += 1000; // next window; 70 * (1 - 0) still counted at its start
    expect((await l.reserve(req({ inputTokens: 40 }))).ok).to.equal(false);
    now += 500;
    expect((await l.reserve(req({ inputTokens: 40 }))).ok).to.equal(true);
  });

  it('validates the config with clear messages', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ tiers: { free: { unit: 'minute' } } }, /at least one of/],
      [{ tiers: { free: { requestsPerUnit: -1 } } }, /requestsPerUnit: must be >= 0/],
      [{ tiers: { free: { requestsPerUnit: 1, unit: 'week' } } }, /unit: must be one of second, minute, hour, day, month/],
      [{ defaultTier: 'gold' }, /no tier named gold/],
      [{ algorithm: 'leaky' }, /algorithm: must be one of/],
      [{ redis: { address: 'not an address' } }, /host:port or a redis:\/\/ URL/],
      [{ redis: { failureMode: 'maybe' } }, /failureMode/],
      [{ limits: {} }, /unknown setting/],
    ];
    for (const [raw, msg] of bad) expect(() => parseRateLimitConfig(raw), String(msg)).to.throw(ConfigError, msg);
  });

  it('formats durations like OpenAI', () => {
    expect([250, 1000, 1001, 60_000, 90_000, 3_723_000].map(formatDuration)).to.deep.equal(['250ms', '1s', '2s', '1m0s', '1m30s', '1h2m3s']);
  });
});
