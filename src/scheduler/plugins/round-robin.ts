import type { Plugin } from '../types.js';

/**
 * Score: take turns, per routing group. Candidates are ordered by address (not by list position, which filters and
 * resource reloads may change); each scheduling call advances the group's cursor by one. The endpoint under the
 * cursor scores 100 and the following ones less, in rotation order, so the ranked fallbacks take turns as well.
 * A baseline policy: it spreads requests evenly and knows nothing about load, caches or GPU speeds.
 */
export function roundRobin(): Plugin {
  const cursors = new Map<string, number>();
  return {
    name: 'round-robin',
    score(req, eps) {
      const n = eps.length;
      if (n === 0) return [];
      const turn = cursors.get(req.group) ?? 0;
      cursors.set(req.group, (turn + 1) % Number.MAX_SAFE_INTEGER);
      const order = eps.map((_, i) => i).sort((a, b) => compare(eps[a]!.address, eps[b]!.address));
      const start = turn % n;
      const scores = new Array<number>(n);
      order.forEach((i, position) => {
        scores[i] = 100 * (1 - ((position - start + n) % n) / n);
      });
      return scores;
    },
  };
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
