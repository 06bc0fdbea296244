import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './metrics.js';

// Kthena router's series, with Kthena's names, labels and buckets, so that its dashboards and alerts work unchanged.
// Destination labels (model_route, backend_type, backend_name, upstream_model) take `none` when they do not apply.

const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const QUEUE_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];
const RATIO_BUCKETS = [0, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 1];
const DESTINATION = ['model_route', 'backend_type', 'backend_name', 'upstream_model'] as const;

export const requestsTotal = new Counter({
  name: 'kthena_router_requests_total',
  help: 'Requests answered, by model, API path, status code, error type and destination.',
  labelNames: ['model', 'path', 'status_code', 'error_type', ...DESTINATION] as const,
  registers: [registry],
});

export const requestDuration = new Histogram({
  name: 'kthena_router_request_duration_seconds',
  help: 'End-to-end request latency at the router, from the complete request to the end of the response.',
  labelNames: ['model', 'path', 'status_code', ...DESTINATION] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const prefillDuration = new Histogram({
  name: 'kthena_router_request_prefill_duration_seconds',
  help: 'Prefill phase latency of prefill/decode-disaggregated requests.',
  labelNames: ['model', 'path', 'status_code'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const decodeDuration = new Histogram({
  name: 'kthena_router_request_decode_duration_seconds',
  help: 'Decode phase latency of prefill/decode-disaggregated requests.',
  labelNames: ['model', 'path', 'status_code'] as const,
  buckets: DURATION_BUCKETS,
  registers: [registry],
});

export const tokensTotal = new Counter({
  name: 'kthena_router_tokens_total',
  help: 'Tokens per request: input (counted by the router) and output (the response usage), by destination.',
  labelNames: ['model', 'path', 'token_type', ...DESTINATION] as const,
  registers: [registry],
});

export const schedulerPluginDuration = new Histogram({
  name: 'kthena_router_scheduler_plugin_duration_seconds',
  help: 'Time spent in each scheduler plugin, by type (filter or score).',
  labelNames: ['model', 'plugin', 'type'] as const,
  buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5],
  registers: [registry],
});

export const rateLimitExceeded = new Counter({
  name: 'kthena_router_rate_limit_exceeded_total',
  help: 'Requests refused by a rate limit, by limit type (requests, input_tokens, output_tokens).',
  labelNames: ['model', 'limit_type', 'path'] as const,
  registers: [registry],
});

export const activeDownstream = new Gauge({
  name: 'kthena_router_active_downstream_requests',
  help: 'Requests from clients in progress at the router, once their model is known.',
  labelNames: ['model'] as const,
  registers: [registry],
});

export const activeUpstream = new Gauge({
  name: 'kthena_router_active_upstream_requests',
  help: 'Requests from the router to a backend in progress.',
  labelNames: ['model_server', ...DESTINATION] as const,
  registers: [registry],
});

export const fairnessQueueSize = new Gauge({
  name: 'kthena_router_fairness_queue_size',
  help: 'Requests held by flow control while every endpoint of their group is saturated (user_id is always "_all").',
  labelNames: ['model', 'user_id'] as const,
  registers: [registry],
});

export const fairnessQueueDuration = new Histogram({
  name: 'kthena_router_fairness_queue_duration_seconds',
  help: 'Time a request spent in flow control before it was admitted or refused (user_id is always "_all").',
  labelNames: ['model', 'user_id'] as const,
  buckets: QUEUE_BUCKETS,
  registers: [registry],
});

export const prefixCacheMatchRatio = new Histogram({
  name: 'kthena_router_prefix_cache_match_ratio',
  help: 'Best prefix-cache match ratio among the candidates, per scheduling attempt.',
  labelNames: ['model'] as const,
  buckets: RATIO_BUCKETS,
  registers: [registry],
});

export const kvcacheAwareMatchRatio = new Histogram({
  name: 'kthena_router_kvcache_aware_match_ratio',
  help: 'Best KV-cache block match ratio among the candidates, per scheduling attempt (kvcache-aware plugin).',
  labelNames: ['model'] as const,
  buckets: RATIO_BUCKETS,
  registers: [registry],
});
