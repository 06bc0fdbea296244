// Latency summaries. Percentiles interpolate linearly between the two nearest ranks (numpy's default), so small
// samples give sensible values.

export interface Summary {
  count: number;
  mean: number;
  min: number;
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** The q-th quantile (0..1) of ascending-sorted values; NaN for no values. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const arr = Array.from(sorted);
  let sum = 0;
  for (const v of arr) sum += v;
  return {
    count: arr.length,
    mean: arr.length ? sum / arr.length : NaN,
    min: arr.length ? arr[0]! : NaN,
    p50: quantile(arr, 0.5),
    p90: quantile(arr, 0.9),
    p99: quantile(arr, 0.99),
    max: arr.length ? arr[arr.length - 1]! : NaN,
  };
}
