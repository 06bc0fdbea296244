import type { RouteRateLimit } from '../../resources/types.js';
import { tenantTokensTotal } from '../../observability/metrics.js';
import type { PrecheckRequest, ReserveRequest } from '../../core/filters.js';
import type { Outcome } from './algorithms.js';
import { DIMENSIONS, limitOf, UNIT_MS, type Dimension, type Limits, type RateLimitConfig } from './config.js';
import { rateLimitHeaders, type DimensionReport } from './headers.js';
import {
  rateLimitRedisErrorsTotal,
  rateLimitRedisFailureDecisionsTotal,
  rateLimitRejectionsTotal,
  rateLimitReservationsOpen,
} from './metrics.js';
import { RedisStore } from './redis-store.js';
import { LocalStore, type DimSpec, type LimitStore } from './store.js';

// The RateLimit filter. A request is checked against every subject that limits it:
//   route  – the ModelRoute's `rateLimit` (Kthena semantics: one budget for the whole route; in Redis when
//            `global.redis.address` is set, otherwise per router process);
//   user   – `users.<name>` or, failing that, the caller's tier (`tiers.<tier>`, else `defaultTier`), per user;
//   tier   – `tiers.<tier>.shared`, one budget for all users of the tier together;
//   model  – the first `models` glob matching the model, one budget per model name.
// Each subject takes 1 request, the input tokens and `max_tokens` (capped at the output budget) up front. Once the
// request went upstream, `commit` keeps the request and its input tokens charged and replaces the reserved output
// tokens by the real ones (or keeps them when none were seen); `release` returns everything, only for a request that
// never left the router.

export type KeyType = 'route' | 'user' | 'tier' | 'model';

export type { ReserveRequest };

export type ReserveResult =
  | { ok: true; reservation: Reservation; headers: Record<string, string> }
  | { ok: false; status: 429 | 503; headers: Record<string, string>; message: string; code: string; limitType?: Dimension };

interface Subject {
  keyType: KeyType;
  id: string;
  limits: Limits | RouteRateLimit;
  store: LimitStore;
}

interface Part {
  subject: Subject;
  key: string;
  dims: DimSpec[];
  costs: number[];
}

const DIM_WORDS: Record<Dimension, string> = {
  requests: 'request',
  inputTokens: 'input token',
  outputTokens: 'output token',
};

export class RateLimiter {
  private readonly local: LocalStore;
  private readonly redis = new Map<string, RedisStore>();

  constructor(
    private readonly config: RateLimitConfig,
    opts: { now?: () => number } = {},
  ) {
    this.local = new LocalStore(config.algorithm, opts.now);
  }

  async reserve(req: ReserveRequest): Promise<ReserveResult> {
    const parts: Part[] = [];
    for (const subject of this.subjects(req)) {
      const dims: DimSpec[] = [];
      const costs: number[] = [];
      for (const dim of DIMENSIONS) {
        const limit = limitOf(subject.limits, dim);
        if (limit === undefined) continue;
        const cost = dim === 'requests' ? 1 : dim === 'inputTokens' ? req.inputTokens : Math.min(req.maxOutputTokens, limit);
        if (dim === 'inputTokens' && cost > limit) return tooLarge(subject, limit, cost);
        dims.push({ field: dim, limit, windowMs: UNIT_MS[subject.limits.unit] });
        costs.push(Math.max(0, cost));
      }
      if (dims.length > 0) parts.push({ subject, key: this.key(subject), dims, costs });
    }

    const settled = await Promise.all(
      parts.map((p) =>
        p.subject.store.acquire(p.key, p.dims, p.costs).then(
          (r) => ({ part: p, ...r }),
          () => ({ part: p, ok: undefined, outcomes: [] as Outcome[] }),
        ),
      ),
    );
    const granted = settled.filter((s) => s.ok === true);
    const failed = settled.filter((s) => s.ok === undefined);
    const refused = settled.filter((s) => s.ok === false);
    const giveBack = () => granted.forEach((g) => fireAndForget(g.part, g.part.costs, 'release'));

    if (failed.length > 0) {
      rateLimitRedisErrorsTotal.inc({ operation: 'acquire' }, failed.length);
      if (this.config.redis.failureMode === 'fail-closed') {
        rateLimitRedisFailureDecisionsTotal.inc({ decision: 'closed' });
        giveBack();
        return {
          ok: false,
          status: 503,
          headers: { 'retry-after': '1' },
          code: 'rate_limit_unavailable',
          message: 'Rate limiting is temporarily unavailable; retry later.',
        };
      }
      rateLimitRedisFailureDecisionsTotal.inc({ decision: 'open' });
    }

    if (refused.length > 0) {
      giveBack();
      return refusal(refused);
    }

    const reports = granted.flatMap((g) =>
      g.part.dims.map((d, i) => ({
        dim: d.field as Dimension,
        limit: d.limit,
        remaining: g.outcomes[i]!.remaining,
        resetMs: g.outcomes[i]!.resetMs,
      })),
    );
    tenantTokensTotal.inc({ token_type: 'input', model: req.model, tenant: req.principal.tenant }, req.inputTokens);
    const reservation = new Reservation(granted.map((g) => g.part), req.model, req.principal.tenant);
    return { ok: true, reservation, headers: rateLimitHeaders(tightest(reports)) };
  }

  /**
   * The request-count limits alone, read-only: a caller already out of requests is refused before its prompt is
   * tokenized (up to 8 MB of text). A store that cannot answer at once lets the request on to `reserve`, which
   * applies the failure mode.
   */
  async precheck(req: PrecheckRequest): Promise<ReserveResult | undefined> {
    const parts: Part[] = [];
    for (const subject of this.subjects(req)) {
      const limit = limitOf(subject.limits, 'requests');
      if (limit === undefined) continue;
      const dims = [{ field: 'requests', limit, windowMs: UNIT_MS[subject.limits.unit] }];
      parts.push({ subject, key: this.key(subject), dims, costs: [1] });
    }
    const settled = await Promise.all(
      parts.map((p) =>
        p.subject.store.peek(p.key, p.dims, p.costs).then(
          (r) => ({ part: p, ...r }),
          () => ({ part: p, ok: true, outcomes: [] as Outcome[] }),
        ),
      ),
    );
    const refused = settled.filter((s) => !s.ok);
    return refused.length > 0 ? refusal(refused) : undefined;
  }

  async close(): Promise<void> {
    await Promise.all([this.local.close(), ...[...this.redis.values()].map((s) => s.close())]);
    this.redis.clear();
  }

  private subjects(req: PrecheckRequest): Subject[] {
    const out: Subject[] = [];
    const { principal, model, routeKey, routeLimit } = req;
    if (routeLimit && routeKey) {
      const address = routeLimit.global?.redis?.address;
      out.push({ keyType: 'route', id: routeKey, limits: routeLimit, store: address ? this.redisStore(address) : this.local });
    }
    const store = this.config.redis.address ? this.redisStore(this.config.redis.address) : this.local;
    const tierName = principal.tier !== undefined && this.config.tiers[principal.tier] ? principal.tier : this.config.defaultTier;
    const tier = tierName === undefined ? undefined : this.config.tiers[tierName];
    const userLimits = this.config.users[principal.user] ?? tier;
    if (userLimits) out.push({ keyType: 'user', id: `${principal.tenant}/${principal.user}`, limits: userLimits, store });
    if (tier?.shared) out.push({ keyType: 'tier', id: tierName!, limits: tier.shared, store });
    const modelRule = this.config.models.find((m) => m.matcher.test(model));
    if (modelRule) out.push({ keyType: 'model', id: model, limits: modelRule.limits, store });
    return out;
  }

  private redisStore(address: string): RedisStore {
    let s = this.redis.get(address);
    if (!s) {
      s = new RedisStore(address, this.config.redis, this.config.algorithm);
      this.redis.set(address, s);
    }
    return s;
  }

  /** One Redis key per subject; the braces make it a Cluster hash tag, the algorithm keeps state formats apart. */
  private key(s: Subject): string {
    const algo = this.config.algorithm === 'token-bucket' ? 'tb' : 'sw';
    return `${this.config.keyPrefix}:${algo}:{${s.keyType}:${encodeURIComponent(s.id)}}`;
  }
}

/** What a granted request holds; exactly one of commit/release takes effect. Neither ever throws. */
export class Reservation {
  private settled = false;

  constructor(
    private readonly parts: Part[],
    private readonly model: string,
    private readonly tenant: string,
  ) {
    rateLimitReservationsOpen.inc();
  }

  /**
   * The request reached an upstream: charge the real output tokens instead of the reserved `max_tokens` share, or
   * keep that share when the output is unknown (undefined).
   */
  commit(actualOutputTokens?: number): void {
    if (this.settled) return;
    this.settled = true;
    rateLimitReservationsOpen.dec();
    if (actualOutputTokens === undefined) return;
    const actual = Number.isFinite(actualOutputTokens) ? Math.max(0, actualOutputTokens) : 0;
    tenantTokensTotal.inc({ token_type: 'output', model: this.model, tenant: this.tenant }, actual);
    for (const p of this.parts) {
      const i = p.dims.findIndex((d) => d.field === 'outputTokens');
      if (i < 0 || p.costs[i] === actual) continue;
      fireAndForget({ ...p, dims: [p.dims[i]!] }, [p.costs[i]! - actual], 'commit');
    }
  }

  /** The request failed before reaching an upstream: give everything back. */
  release(): void {
    if (this.settled) return;
    this.settled = true;
    rateLimitReservationsOpen.dec();
    for (const p of this.parts) fireAndForget(p, p.costs, 'release');
  }
}

function fireAndForget(part: Pick<Part, 'subject' | 'key' | 'dims'>, deltas: number[], operation: string): void {
  part.subject.store.adjust(part.key, part.dims, deltas).catch(() => rateLimitRedisErrorsTotal.inc({ operation }));
}

/** The 429 for parts that did not fit, naming the limit that frees up last. */
function refusal(refused: { part: Part; outcomes: Outcome[] }[]): ReserveResult {
  let worst: { retry: number; text: string; dim?: Dimension } = { retry: 0, text: '' };
  const reports: DimensionReport[] = [];
  for (const r of refused) {
    r.part.dims.forEach((d, i) => {
      const o = r.outcomes[i]!;
      reports.push({ dim: d.field as Dimension, limit: d.limit, remaining: o.remaining, resetMs: o.resetMs });
      if (o.ok) return;
      rateLimitRejectionsTotal.inc({ key_type: r.part.subject.keyType, dimension: d.field });
      if (o.retryAfterMs >= worst.retry) {
        const what = `${DIM_WORDS[d.field as Dimension]} rate limit exceeded`;
        worst = {
          retry: o.retryAfterMs,
          text: `${what} (${describe(r.part.subject)}: ${d.limit} per ${r.part.subject.limits.unit})`,
          dim: d.field as Dimension,
        };
      }
    });
  }
  const seconds = Math.max(1, Math.ceil(worst.retry / 1000));
  return {
    ok: false,
    status: 429,
    headers: rateLimitHeaders(tightest(reports), worst.retry),
    code: 'rate_limit_exceeded',
    message: `${worst.text}; retry after ${seconds}s.`,
    limitType: worst.dim,
  };
}

/** Per dimension, the report with the least room left: that is what the caller runs into first. */
function tightest(reports: DimensionReport[]): DimensionReport[] {
  const best = new Map<Dimension, DimensionReport>();
  for (const r of reports) {
    const cur = best.get(r.dim);
    if (!cur || r.remaining / r.limit < cur.remaining / cur.limit) best.set(r.dim, r);
  }
  return DIMENSIONS.flatMap((d) => best.get(d) ?? []);
}

function describe(s: Subject): string {
  return s.keyType === 'route' ? `route ${s.id}` : `${s.keyType} ${s.id}`;
}

function tooLarge(subject: Subject, limit: number, cost: number): ReserveResult {
  rateLimitRejectionsTotal.inc({ key_type: subject.keyType, dimension: 'inputTokens' });
  return {
    ok: false,
    status: 429,
    headers: {},
    code: 'request_too_large',
    limitType: 'inputTokens',
    message: `Request too large: ${cost} input tokens exceed the ${describe(subject)} limit of ${limit} per ${subject.limits.unit}.`,
  };
}
