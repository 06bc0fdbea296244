import { ConfigError } from './errors.js';

// Unknown keys stop the start: a typo such as `router.maxBodyByte` would otherwise be ignored silently and leave the
// default in force.

/** Throws a ConfigError naming the first key of `obj` not in `allowed`, with the likely intended key when close. */
export function rejectUnknownKeys(obj: Record<string, unknown>, path: string, allowed: readonly string[]): void {
  for (const key of Object.keys(obj)) {
    if (allowed.includes(key)) continue;
    const at = (k: string) => (path === '' ? k : `${path}.${k}`);
    const guess = closestKey(key, allowed);
    const hint = guess !== undefined ? `did you mean ${at(guess)}?` : `expected one of ${allowed.join(', ')}`;
    throw new ConfigError(`${at(key)}: unknown setting (${hint})`);
  }
}

/** The allowed key a typo most likely meant: same letters ignoring case, a shortened key, or within a few edits. */
export function closestKey(key: string, allowed: readonly string[]): string | undefined {
  const lower = key.toLowerCase();
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(key.length / 3)) + 1;
  for (const candidate of allowed) {
    const c = candidate.toLowerCase();
    const d = c === lower ? 0 : lower.length >= 3 && c.startsWith(lower) ? 1 : editDistance(lower, c);
    if (d < bestDistance) [best, bestDistance] = [candidate, d];
  }
  return best;
}

/** Levenshtein distance (insertions, deletions, substitutions), one row at a time. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}
