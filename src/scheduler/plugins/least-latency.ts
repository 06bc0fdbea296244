import { invertMinMax, NEUTRAL_SCORE } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';

/**
 * Score: lower recent TTFT and TPOT is better. Each is min-max normalised across the endpoints that reported it, then
 * mixed: factor × TTFT score + (1 − factor) × TPOT score. An endpoint with no recent sample scores neutrally.
 */
export function leastLatency(args: PluginArgs): Plugin {
  const factor = args.TTFTTPOTWeightFactor === undefined ? 0.5 : Number(args.TTFTTPOTWeightFactor);
  if (!(factor >= 0 && factor <= 1)) throw new Error('least-latency: TTFTTPOTWeightFactor must be in 0..1');
  return {
    name: 'least-latency',
    score(_req, eps) {
      const ttft = normalised(eps.map((e) => (e.state.stale ? undefined : e.state.metrics?.ttftSeconds)));
      const tpot = normalised(eps.map((e) => (e.state.stale ? undefined : e.state.metrics?.tpotSeconds)));
      return eps.map((_, i) => factor * ttft[i]! + (1 - factor) * tpot[i]!);
    },
  };
}

function normalised(values: Array<number | undefined>): number[] {
  const known = values.filter((v): v is number => v !== undefined && Number.isFinite(v));
  if (known.length === 0) return values.map(() => NEUTRAL_SCORE);
  const scores = invertMinMax(known);
  let j = 0;
  return values.map((v) => (v !== undefined && Number.isFinite(v) ? scores[j++]! : NEUTRAL_SCORE));
}
