// Reading values out of parsed families: sums over label sets, histogram totals and reset-aware deltas between
// two scrapes. Every reader takes a list of names and uses the first one present, so adapters can list a metric's
// current name before its older ones.
import {
  findFamily,
  type Families,
  type Labels,
  type MetricFamily,
  type Sample,
} from '../metrics-fetcher/prom-parser.js';

export interface HistogramTotals {
  sum: number;
  count: number;
}

export function firstFamily(families: Families, names: readonly string[]): MetricFamily | undefined {
  for (const name of names) {
    const family = findFamily(families, name);
    if (family && family.samples.length > 0) return family;
  }
  return undefined;
}

/** Value samples of a gauge or counter family (not `_created`), optionally restricted to matching labels. */
export function valueSamples(family: MetricFamily, match?: Labels): Sample[] {
  const total = family.name + '_total';
  return family.samples.filter(
    (s) => (s.name === family.name || s.name === total) && !Number.isNaN(s.value) && matches(s.labels, match),
  );
}

/** Sum over every label set (several model names, DP ranks); undefined when no name is present. */
export function sumOf(families: Families, names: readonly string[], match?: Labels): number | undefined {
  const family = firstFamily(families, names);
  if (!family) return undefined;
  const samples = valueSamples(family, match);
  if (samples.length === 0) return undefined;
  let total = 0;
  for (const s of samples) total += s.value;
  return total;
}

/** Mean over label sets, for ratios such as cache usage where a sum would exceed 1. */
export function meanOf(families: Families, names: readonly string[], match?: Labels): number | undefined {
  const family = firstFamily(families, names);
  if (!family) return undefined;
  const samples = valueSamples(family, match);
  if (samples.length === 0) return undefined;
  let total = 0;
  for (const s of samples) total += s.value;
  return total / samples.length;
}

/** `_sum` and `_count` of a histogram (or summary) summed over label sets. */
export function histogramTotals(
  families: Families,
  names: readonly string[],
  match?: Labels,
): HistogramTotals | undefined {
  for (const name of names) {
    const family = families.get(name);
    if (family && (family.type === 'histogram' || family.type === 'summary')) {
      const totals = totalsFromSamples(family.samples, name + '_sum', name + '_count', match);
      if (totals) return totals;
    }
    // Without TYPE lines the parser leaves `_sum` and `_count` as separate untyped families.
    const sums = families.get(name + '_sum');
    const counts = families.get(name + '_count');
    if (sums && counts) {
      const totals = totalsFromSamples([...sums.samples, ...counts.samples], name + '_sum', name + '_count', match);
      if (totals) return totals;
    }
  }
  return undefined;
}

function totalsFromSamples(
  samples: readonly Sample[],
  sumName: string,
  countName: string,
  match?: Labels,
): HistogramTotals | undefined {
  let sum = 0;
  let count = 0;
  let seen = false;
  for (const s of samples) {
    if (Number.isNaN(s.value) || !matches(s.labels, match)) continue;
    if (s.name === sumName) {
      sum += s.value;
      seen = true;
    } else if (s.name === countName) {
      count += s.value;
      seen = true;
    }
  }
  return seen ? { sum, count } : undefined;
}

/** Increase of a counter between scrapes; after a reset (value went down) the new value is the increase. */
export function counterIncrease(current: number | undefined, previous: number | undefined): number | undefined {
  if (current === undefined || previous === undefined) return undefined;
  return current >= previous ? current - previous : current;
}

/** Mean observation over the interval, Δsum/Δcount; undefined when nothing was observed. Reset-aware. */
export function intervalMean(
  current: HistogramTotals | undefined,
  previous: HistogramTotals | undefined,
): number | undefined {
  if (!current || !previous) return undefined;
  const reset = current.count < previous.count || current.sum < previous.sum;
  const dCount = reset ? current.count : current.count - previous.count;
  const dSum = reset ? current.sum : current.sum - previous.sum;
  if (!(dCount > 0)) return undefined;
  return dSum / dCount;
}

/** Counter increase per second between two scrapes. */
export function ratePerSecond(
  current: number | undefined,
  previous: number | undefined,
  elapsedMs: number,
): number | undefined {
  const increase = counterIncrease(current, previous);
  if (increase === undefined || !(elapsedMs > 0)) return undefined;
  return increase / (elapsedMs / 1000);
}

/** Ratio of two counters' increases (e.g. prefix-cache hits / queries); undefined when the denominator did not move. */
export function increaseRatio(
  numerator: [number | undefined, number | undefined],
  denominator: [number | undefined, number | undefined],
): number | undefined {
  const num = counterIncrease(numerator[0], numerator[1]);
  const den = counterIncrease(denominator[0], denominator[1]);
  if (num === undefined || den === undefined || !(den > 0)) return undefined;
  return clamp01(num / den);
}

export function clamp01(value: number): number {
  if (Number.isNaN(value)) return 0;
  return Math.min(1, Math.max(0, value));
}

/** First sample's label parsed as a positive integer (e.g. `block_size` of an info gauge). */
export function labelInt(families: Families, names: readonly string[], label: string): number | undefined {
  const family = firstFamily(families, names);
  if (!family) return undefined;
  for (const s of family.samples) {
    const n = Number(s.labels[label]);
    if (Number.isInteger(n) && n > 0) return n;
  }
  return undefined;
}

function matches(labels: Labels, match: Labels | undefined): boolean {
  if (!match) return true;
  for (const key in match) if (labels[key] !== match[key]) return false;
  return true;
}
