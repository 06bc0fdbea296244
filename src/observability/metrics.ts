import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

// The router's own Prometheus metrics, served on --metrics-port at /metrics.
export const registry = new Registry();
collectDefaultMetrics({ register: registry, prefix: 'kthena_router_process_' });

/** Refreshers run right before each scrape: gauges derived from the fleet's state are computed then, not per event. */
export const beforeScrape = new Set<() => void>();

export const decisionLatency = new Histogram({
  name: 'kthena_router_decision_duration_seconds',
  help: 'Time from a complete request to a routing decision.',
  labelNames: ['frontend'] as const,
  buckets: [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25],
  registers: [registry],
});

export const picksTotal = new Counter({
  name: 'kthena_router_picks_total',
  help: 'Endpoints picked as primary, by model server and endpoint.',
  labelNames: ['model_server', 'endpoint'] as const,
  registers: [registry],
});

export const scrapeIntervalGauge = new Gauge({
  name: 'kthena_router_metrics_scrape_interval_seconds',
  help: 'Period between two scrapes of one endpoint: metrics.scrapeIntervalMs, or longer to keep the fleet within metrics.maxScrapesPerSecond.',
  registers: [registry],
});

export const scrapeErrorsTotal = new Counter({
  name: 'kthena_router_scrape_errors_total',
  help: 'Failed scrapes of engine metrics, by endpoint.',
  labelNames: ['endpoint'] as const,
  registers: [registry],
});

export const inflightGauge = new Gauge({
  name: 'kthena_router_inflight_requests',
  help: 'Requests sent to an endpoint by this router and not yet completed.',
  labelNames: ['endpoint'] as const,
  registers: [registry],
});

// Kthena's kthena_router_tokens_total has no tenant label; the per-tenant view lives under its own name.
export const tenantTokensTotal = new Counter({
  name: 'kthena_router_tenant_tokens_total',
  help: 'Tokens charged, by token type (input/output), model and tenant.',
  labelNames: ['token_type', 'model', 'tenant'] as const,
  registers: [registry],
});
