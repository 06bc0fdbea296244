import type { Endpoint } from '../../datastore/endpoint.js';

export interface SaturationThresholds {
  /** Requests waiting in the engine's queue at or above which the endpoint is saturated. */
  queueDepth: number;
  /** KV-cache use (0..1) at or above which the endpoint is saturated. */
  kvCacheUsage: number;
}

export const DEFAULT_SATURATION: SaturationThresholds = { queueDepth: 5, kvCacheUsage: 0.9 };

/**
 * The engine's queue as best known now. Once an engine queues, the requests this router sent since the last scrape
 * queue too; while it does not, they most likely started running.
 */
export function queueNow(ep: Endpoint): number {
  const m = ep.state.metrics;
  if (!m || ep.state.stale) return 0;
  return m.waiting > 0 ? m.waiting + ep.picksSinceScrape : 0;
}

/** True when the endpoint cannot take more work without queueing it; undefined when its metrics are stale. */
export function endpointSaturated(ep: Endpoint, t: SaturationThresholds = DEFAULT_SATURATION): boolean | undefined {
  const m = ep.state.metrics;
  if (!m || ep.state.stale) return undefined;
  return queueNow(ep) >= t.queueDepth || m.kvCacheUsage >= t.kvCacheUsage;
}

/**
 * True when every endpoint with fresh metrics is saturated (the saturation signal for the flow controller). With no
 * fresh metrics at all the answer is false: without evidence of saturation, requests are not held.
 */
export function fleetSaturated(endpoints: readonly Endpoint[], t: SaturationThresholds = DEFAULT_SATURATION): boolean {
  let known = false;
  for (const ep of endpoints) {
    const s = endpointSaturated(ep, t);
    if (s === false) return false;
    if (s === true) known = true;
  }
  return known;
}
