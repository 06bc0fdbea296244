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
export function invertMinMax(values: ArrayLike<number>): number[] {
  let min = Infinity;
  let max = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    if (v < min) min = v;
    if (v > max) max = v;
  }
  const span = max - min;
  const out = new Array<number>(values.length);
  for (let i = 0; i < values.length; i++) out[i] = span <= 0 ? 100 : (100 * (max - values[i]!)) / span;
  return out;
}

/** Neutral score for endpoints whose metrics are stale or missing: neither favoured nor avoided. */
export const NEUTRAL_SCORE = 50;
