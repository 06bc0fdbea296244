import type { Endpoint, EngineMetrics } from '../../src/datastore/endpoint.js';

/** An endpoint with fresh metrics, for scheduler and pipeline tests. */
export function endpoint(address: string, metrics: Partial<EngineMetrics> = {}, extra: Partial<Endpoint> = {}): Endpoint {
  const [ip, port] = address.split(':');
  return {
    address,
    ip: ip!,
    port: Number(port),
    podName: `pod-${address}`,
    namespace: 'default',
    labels: {},
    engine: 'vLLM',
    metricsUrl: `http://${address}/metrics`,
    state: {
      metrics: { running: 0, waiting: 0, kvCacheUsage: 0, runningLoras: [], waitingLoras: [], ...metrics },
      updatedAt: Date.now(),
      stale: false,
    },
    inflight: 0,
    picksSinceScrape: 0,
    ...extra,
  };
}

/** A seeded PRNG (mulberry32) so randomised tests are reproducible. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const ms = (name: string, spec: Record<string, unknown>, namespace = 'default') => ({
  apiVersion: 'networking.serving.volcano.sh/v1alpha1',
  kind: 'ModelServer',
  metadata: { name, namespace },
  spec,
});

export const mr = (name: string, spec: Record<string, unknown>, extraMeta: Record<string, unknown> = {}) => ({
  apiVersion: 'networking.serving.volcano.sh/v1alpha1',
  kind: 'ModelRoute',
  metadata: { name, namespace: 'default', ...extraMeta },
  spec,
});

export const pod = (name: string, ip: string | undefined, labels: Record<string, string>, ready = true) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, namespace: 'default', labels },
  status: {
    podIP: ip,
    phase: 'Running',
    conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }],
  },
});
