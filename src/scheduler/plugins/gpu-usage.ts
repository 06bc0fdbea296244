import { NEUTRAL_SCORE } from '../load.js';
import type { Plugin } from '../types.js';

/** Score: more free KV cache is better (100 × (1 − usage)); stale metrics score neutrally. */
export function gpuUsage(): Plugin {
  return {
    name: 'gpu-usage',
    score(_req, eps) {
      return eps.map((e) => {
        const m = e.state.metrics;
        if (!m || e.state.stale) return NEUTRAL_SCORE;
        return 100 * (1 - Math.min(1, Math.max(0, m.kvCacheUsage)));
      });
    },
  };
}
