import { effectiveLoad, invertMinMax, waitingNow } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';

/**
 * Filter: drop endpoints whose engine queue holds more than `maxWaitingRequests`; when every endpoint is over the
 * bound, keep the least-queued ones instead of failing (the request still has to go somewhere).
 * Score: fewer running + waiting requests (plus this router's unscraped picks) is better.
 */
export function leastRequest(args: PluginArgs): Plugin {
  const maxWaiting = args.maxWaitingRequests === undefined ? 10 : Number(args.maxWaitingRequests);
  if (!Number.isFinite(maxWaiting) || maxWaiting < 0) throw new Error('least-request: maxWaitingRequests must be >= 0');
  return {
    name: 'least-request',
    filter(_req, eps) {
      const ok = eps.filter((e) => waitingNow(e) <= maxWaiting);
      if (ok.length > 0) return ok;
      const least = Math.min(...eps.map(waitingNow));
      return eps.filter((e) => waitingNow(e) === least);
    },
    score(_req, eps) {
      const load = new Float64Array(eps.length);
      for (let i = 0; i < eps.length; i++) load[i] = effectiveLoad(eps[i]!);
      return invertMinMax(load);
    },
  };
}
