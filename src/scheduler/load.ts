import type { Endpoint } from '../datastore/endpoint.js';

/**
 * Requests queued or running on an endpoint as best known now: the engine's last scrape plus what this router sent
 * since then (the scrape cannot show it yet). With stale or missing metrics, only the router's own count is known.
 */
export function effectiveLoad(ep: Endpoint): number {
  const m = ep.state.metrics;
  if (!m || ep.state.stale) return ep.inflight;
  return Math.max(m.running + m.waiting + ep.picksSinceScrape, ep.inflight);
}

export function waitingNow(ep: Endpoint): number {
  const m = ep.state.metrics;
  if (!m || ep.state.stale) return 0;
  return m.waiting;
}

/** Lower is better: maps each value to 0..100 where the smallest gets 100 and the largest 0. Equal values → 100. */
export function invertMinMax(values: number[]): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (const v of values) {
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  return values.map((v) => (span <= 0 ? 100 : (100 * (max - v)) / span));
}

/** Neutral score for endpoints whose metrics are stale or missing: neither favoured nor avoided. */
export const NEUTRAL_SCORE = 50;
