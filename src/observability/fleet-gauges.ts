import { Gauge } from 'prom-client';
import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import { poolAvgKvCache, poolAvgQueueSize, poolAvgRunning, poolReadyPods } from './gie-metrics.js';
import { beforeScrape, registry } from './metrics.js';

// Per-pool and per-pod gauges, computed from the datastore when Prometheus scrapes (not on every engine scrape).

const POD = ['model_server', 'pod', 'endpoint'] as const;

export const podRunning = new Gauge({
  name: 'kthena_router_pod_running_requests',
  help: "Requests running on a pod, from its engine's last scrape.",
  labelNames: POD,
  registers: [registry],
});

export const podWaiting = new Gauge({
  name: 'kthena_router_pod_waiting_requests',
  help: "Requests queued on a pod, from its engine's last scrape.",
  labelNames: POD,
  registers: [registry],
});

export const podKvCacheUsage = new Gauge({
  name: 'kthena_router_pod_kv_cache_usage',
  help: "KV-cache use of a pod (0-1), from its engine's last scrape.",
  labelNames: POD,
  registers: [registry],
});

export const podPrefixCacheHitRate = new Gauge({
  name: 'kthena_router_pod_prefix_cache_hit_rate',
  help: "Prefix-cache hit rate of a pod (0-1) as its engine reports it; absent when the engine reports none.",
  labelNames: POD,
  registers: [registry],
});

export const podMetricsStale = new Gauge({
  name: 'kthena_router_pod_metrics_stale',
  help: 'Whether the router holds no recent good scrape of the pod (1 = stale: scored neutrally).',
  labelNames: POD,
  registers: [registry],
});

const datastores = new Set<Datastore>();

/** Exports the datastore's pools and pods on every scrape until the returned function is called. */
export function exportFleetGauges(datastore: Datastore): () => void {
  datastores.add(datastore);
  return () => datastores.delete(datastore);
}

beforeScrape.add(refresh);

function refresh(): void {
  for (const g of [poolAvgKvCache, poolAvgQueueSize, poolAvgRunning, poolReadyPods, podRunning, podWaiting, podKvCacheUsage, podPrefixCacheHitRate, podMetricsStale]) {
    g.reset();
  }
  for (const ds of datastores) {
    for (const pool of ds.list('InferencePool')) {
      setPool(pool.metadata.name, ds.endpointsForPool(pool.metadata.namespace, pool.metadata.name));
    }
    for (const server of ds.list('ModelServer')) {
      const eps = ds.endpointsForServer(server.metadata.namespace, server.metadata.name);
      // GIE's pool series, per ModelServer: Kthena's unit of a pool.
      setPool(server.metadata.name, eps);
      for (const ep of eps) setPod(`${server.metadata.namespace}/${server.metadata.name}`, ep);
    }
  }
}

function setPool(name: string, eps: Endpoint[]): void {
  poolReadyPods.set({ name }, eps.length);
  const fresh = eps.filter((e) => e.state.metrics && !e.state.stale).map((e) => e.state.metrics!);
  const avg = (f: (m: (typeof fresh)[number]) => number) => (fresh.length ? fresh.reduce((s, m) => s + f(m), 0) / fresh.length : 0);
  poolAvgKvCache.set({ name }, avg((m) => m.kvCacheUsage));
  poolAvgQueueSize.set({ name }, avg((m) => m.waiting));
  poolAvgRunning.set({ name }, avg((m) => m.running));
}

function setPod(server: string, ep: Endpoint): void {
  const labels = { model_server: server, pod: ep.podName, endpoint: ep.address };
  const m = ep.state.metrics;
  podMetricsStale.set(labels, ep.state.stale || !m ? 1 : 0);
  if (!m) return;
  podRunning.set(labels, m.running);
  podWaiting.set(labels, m.waiting);
  podKvCacheUsage.set(labels, m.kvCacheUsage);
  if (m.prefixCacheHitRate !== undefined) podPrefixCacheHitRate.set(labels, m.prefixCacheHitRate);
}
