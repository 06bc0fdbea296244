import type { RateUnit, RouteRateLimit } from '../../resources/types.js';
import { ConfigError, globToRegExp, object, oneOf, optNum, optObject, optStr, str } from '../auth/config-reader.js';

// The router configuration's `rateLimit` section: limits keyed by user, tier and model, on top of the per-route
// limits that ModelRoute resources carry (Kthena's `rateLimit` block, parsed by the resource layer).

export type Algorithm = 'token-bucket' | 'sliding-window';
export type FailureMode = 'fail-open' | 'fail-closed';
export type Dimension = 'requests' | 'inputTokens' | 'outputTokens';
export const DIMENSIONS: readonly Dimension[] = ['requests', 'inputTokens', 'outputTokens'];

/** Same shape as a ModelRoute's `rateLimit`, minus `global`. At least one of the three budgets is set. */
export interface Limits {
  requestsPerUnit?: number;
  inputTokensPerUnit?: number;
  outputTokensPerUnit?: number;
  unit: RateUnit;
}

export interface TierLimits extends Limits {
  /** Budget shared by every user of the tier together. */
  shared?: Limits;
}

export interface RedisSettings {
  /** `host:port` or `redis://[user:pass@]host:port[/db]`; when set, the router-config limits live in Redis. */
  address?: string;
  cluster: boolean;
  /** What to do when Redis cannot answer in time; applies to every Redis store, ModelRoute ones included. */
  failureMode: FailureMode;
  timeoutMs: number;
}

export interface RateLimitConfig {
  algorithm: Algorithm;
  keyPrefix: string;
  redis: RedisSettings;
  defaultTier?: string;
  tiers: Record<string, TierLimits>;
  users: Record<string, Limits>;
  /** Model-name globs → per-model budget shared by all callers of that model. */
  models: Array<{ pattern: string; matcher: RegExp; limits: Limits }>;
}

export const UNIT_MS: Record<RateUnit, number> = {
  second: 1000,
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  // A month is 30 days.
  month: 2_592_000_000,
};

const UNITS = Object.keys(UNIT_MS) as RateUnit[];

/** Validates the `rateLimit` section (undefined/null = no router-level limits). Throws ConfigError on bad input. */
export function parseRateLimitConfig(raw: unknown): RateLimitConfig {
  const p = 'rateLimit';
  const o = optObject(raw, p, ['algorithm', 'keyPrefix', 'redis', 'defaultTier', 'tiers', 'users', 'models']) ?? {};
  const r = optObject(o.redis, `${p}.redis`, ['address', 'cluster', 'failureMode', 'timeoutMs']) ?? {};
  const tiers: Record<string, TierLimits> = {};
  for (const [name, v] of Object.entries(optObject(o.tiers, `${p}.tiers`) ?? {})) {
    const tp = `${p}.tiers.${name}`;
    const to = object(v, tp);
    const { shared, ...own } = to;
    const hasOwn = Object.keys(own).length > 0;
    tiers[name] = {
      ...(hasOwn ? parseLimits(own, tp) : { unit: 'minute' as RateUnit }),
      shared: shared === undefined ? undefined : parseLimits(shared, `${tp}.shared`),
    };
  }
  const users: Record<string, Limits> = {};
  for (const [name, v] of Object.entries(optObject(o.users, `${p}.users`) ?? {})) users[name] = parseLimits(v, `${p}.users.${name}`);
  const models = Object.entries(optObject(o.models, `${p}.models`) ?? {}).map(([pattern, v]) => ({
    pattern,
    matcher: globToRegExp(pattern),
    limits: parseLimits(v, `${p}.models.${pattern}`),
  }));
  const defaultTier = optStr(o.defaultTier, `${p}.defaultTier`);
  if (defaultTier !== undefined && !tiers[defaultTier]) throw new ConfigError(`${p}.defaultTier: no tier named ${defaultTier}`);
  return {
    algorithm: oneOf(o.algorithm, `${p}.algorithm`, ['token-bucket', 'sliding-window'] as const, 'token-bucket'),
    keyPrefix: optStr(o.keyPrefix, `${p}.keyPrefix`) ?? 'kthena:rl',
    redis: {
      address: r.address === undefined ? undefined : redisAddress(r.address, `${p}.redis.address`),
      cluster: r.cluster === true,
      failureMode: oneOf(r.failureMode, `${p}.redis.failureMode`, ['fail-open', 'fail-closed'] as const, 'fail-open'),
      timeoutMs: optNum(r.timeoutMs, `${p}.redis.timeoutMs`, 100, { min: 1 }),
    },
    defaultTier,
    tiers,
    users,
    models,
  };
}

/** A limits block: the three budgets (at least one, non-negative integers) and the unit. */
export function parseLimits(raw: unknown, p: string): Limits {
  const o = object(raw, p, ['requestsPerUnit', 'inputTokensPerUnit', 'outputTokensPerUnit', 'unit']);
  const budget = (k: string) => (o[k] === undefined ? undefined : optNum(o[k], `${p}.${k}`, 0, { min: 0, integer: true }));
  const limits: Limits = {
    requestsPerUnit: budget('requestsPerUnit'),
    inputTokensPerUnit: budget('inputTokensPerUnit'),
    outputTokensPerUnit: budget('outputTokensPerUnit'),
    unit: oneOf(o.unit, `${p}.unit`, UNITS, 'minute'),
  };
  if (DIMENSIONS.every((d) => limitOf(limits, d) === undefined)) {
    throw new ConfigError(`${p}: set at least one of requestsPerUnit, inputTokensPerUnit, outputTokensPerUnit`);
  }
  return limits;
}

/** The budget for one dimension; 0 means unset, as in Kthena (Go zero values). */
export function limitOf(l: Limits | RouteRateLimit, dim: Dimension): number | undefined {
  const v = dim === 'requests' ? l.requestsPerUnit : dim === 'inputTokens' ? l.inputTokensPerUnit : l.outputTokensPerUnit;
  return v !== undefined && v > 0 ? v : undefined;
}

function redisAddress(v: unknown, p: string): string {
  const s = str(v, p);
  if (/^rediss?:\/\//.test(s)) return s;
  if (!/^[^\s:/]+:\d{1,5}$/.test(s)) throw new ConfigError(`${p}: expected host:port or a redis:// URL`);
  return s;
}
