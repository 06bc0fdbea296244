// RateLimit filter: request and token budgets per route, user, tier and model, in memory or in Redis.
export { RateLimiter, Reservation, type KeyType, type ReserveRequest, type ReserveResult } from './limiter.js';
export { parseLimits, parseRateLimitConfig, UNIT_MS } from './config.js';
export type { Algorithm, FailureMode, Limits, RateLimitConfig, TierLimits } from './config.js';
export { formatDuration } from './headers.js';
