import type { TargetModel } from '../resources/types.js';

/**
 * Picks one target in proportion to its weight (canary and A/B splits). Zero-weight targets are never picked unless
 * every weight is zero, in which case the first target is used so the rule still routes. `exclude` lets the caller
 * fall through to the next target when one has no capacity.
 */
export function pickWeighted(
  targets: TargetModel[],
  random: () => number = Math.random,
  exclude: ReadonlySet<TargetModel> = new Set(),
): TargetModel | undefined {
  const pool = targets.filter((t) => !exclude.has(t));
  if (pool.length === 0) return undefined;
  const total = pool.reduce((s, t) => s + t.weight, 0);
  if (total <= 0) return pool[0];
  let r = random() * total;
  for (const t of pool) {
    if (t.weight <= 0) continue;
    r -= t.weight;
    if (r < 0) return t;
  }
  return pool.filter((t) => t.weight > 0).at(-1);
}
