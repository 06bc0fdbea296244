import { Counter, Gauge } from 'prom-client';
import { registry } from '../../observability/metrics.js';

export const rateLimitRejectionsTotal = new Counter({
  name: 'kthena_router_ratelimit_rejections_total',
  help: 'Requests refused by a rate limit, by key type (route, user, tier, model) and dimension.',
  labelNames: ['key_type', 'dimension'] as const,
  registers: [registry],
});

export const rateLimitRedisErrorsTotal = new Counter({
  name: 'kthena_router_ratelimit_redis_errors_total',
  help: 'Failed or timed-out rate-limit calls to Redis, by operation.',
  labelNames: ['operation'] as const,
  registers: [registry],
});

export const rateLimitRedisFailureDecisionsTotal = new Counter({
  name: 'kthena_router_ratelimit_redis_failure_decisions_total',
  help: 'Requests decided by the Redis failure mode while Redis was unavailable (open = admitted, closed = refused).',
  labelNames: ['decision'] as const,
  registers: [registry],
});

export const rateLimitReservationsOpen = new Gauge({
  name: 'kthena_router_ratelimit_reservations_open',
  help: 'Granted rate-limit reservations not yet settled (requests in progress); it returns to 0 when the router is idle.',
  registers: [registry],
});
