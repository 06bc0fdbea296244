import type { Endpoint } from '../../datastore/endpoint.js';
import { NEUTRAL_SCORE } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';

/**
 * Score: lower recent TTFT and TPOT is better. Each is min-max normalised across the endpoints that reported it, then
 * mixed: factor × TTFT score + (1 − factor) × TPOT score. An endpoint with no recent sample scores neutrally.
 * Two passes over the endpoints and no intermediate arrays: this runs on every decision over every endpoint.
 */
export function leastLatency(args: PluginArgs): Plugin {
  const factor = args.TTFTTPOTWeightFactor === undefined ? 0.5 : Number(args.TTFTTPOTWeightFactor);
  if (!(factor >= 0 && factor <= 1)) throw new Error('least-latency: TTFTTPOTWeightFactor must be in 0..1');
  return {
    name: 'least-latency',
    score(_req, eps) {
      let tMin = Infinity;
      let tMax = -Infinity;
      let pMin = Infinity;
      let pMax = -Infinity;
      for (let i = 0; i < eps.length; i++) {
        const t = ttft(eps[i]!);
        const p = tpot(eps[i]!);
        if (t !== undefined) {
          if (t < tMin) tMin = t;
          if (t > tMax) tMax = t;
        }
        if (p !== undefined) {
          if (p < pMin) pMin = p;
          if (p > pMax) pMax = p;
        }
      }
      const out = new Array<number>(eps.length);
      for (let i = 0; i < eps.length; i++) {
        const t = ttft(eps[i]!);
        const p = tpot(eps[i]!);
        const ts = t === undefined ? NEUTRAL_SCORE : inverted(t, tMin, tMax);
        const ps = p === undefined ? NEUTRAL_SCORE : inverted(p, pMin, pMax);
        out[i] = factor * ts + (1 - factor) * ps;
      }
      return out;
    },
  };
}

function ttft(e: Endpoint): number | undefined {
  const v = e.state.stale ? undefined : e.state.metrics?.ttftSeconds;
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

function tpot(e: Endpoint): number | undefined {
  const v = e.state.stale ? undefined : e.state.metrics?.tpotSeconds;
  return v !== undefined && Number.isFinite(v) ? v : undefined;
}

/** Lower is better: the smallest known value scores 100, the largest 0; all equal → 100. */
function inverted(v: number, min: number, max: number): number {
  const span = max - min;
  return span <= 0 ? 100 : (100 * (max - v)) / span;
}
