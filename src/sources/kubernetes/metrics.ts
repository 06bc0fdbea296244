import { Counter, Gauge } from 'prom-client';
import { registry } from '../../observability/metrics.js';

// Health of the Kubernetes list/watch loops and of leader election.

export const watchRestartsTotal = new Counter({
  name: 'kthena_router_kubernetes_watch_restarts_total',
  help: 'Watches that ended, by resource and reason (closed, gone, stalled, error).',
  labelNames: ['resource', 'reason'] as const,
  registers: [registry],
});

export const relistsTotal = new Counter({
  name: 'kthena_router_kubernetes_relists_total',
  help: 'Full relists after a watch expired (410 Gone), by resource.',
  labelNames: ['resource'] as const,
  registers: [registry],
});

export const syncedGauge = new Gauge({
  name: 'kthena_router_kubernetes_synced',
  help: '1 once the initial list of a resource has been loaded.',
  labelNames: ['resource'] as const,
  registers: [registry],
});

export const invalidObjectsTotal = new Counter({
  name: 'kthena_router_kubernetes_invalid_objects_total',
  help: 'Objects from the API server that failed validation and were ignored, by kind.',
  labelNames: ['kind'] as const,
  registers: [registry],
});

export const leaderGauge = new Gauge({
  name: 'kthena_router_kubernetes_leader',
  help: '1 while this replica holds the status-writer Lease.',
  registers: [registry],
});
