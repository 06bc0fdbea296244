import type { Rng } from './random.js';

// Integer-valued distributions for prompt and output lengths, as written in workload files:
//   128                                  fixed
//   { min: 64, max: 256 }                uniform
//   { mean: 200, stddev: 50 }            normal
//   { median: 150, sigma: 0.8 }          log-normal (long tail, typical of chat output lengths)
// normal and log-normal accept optional min/max bounds; every draw is at least 1.

export type Dist =
  | number
  | { min: number; max: number }
  | { mean: number; stddev: number; min?: number; max?: number }
  | { median: number; sigma: number; min?: number; max?: number };

export function sample(d: Dist, rng: Rng): number {
  let v: number;
  let lo = 1;
  let hi = Infinity;
  if (typeof d === 'number') {
    v = d;
  } else if ('mean' in d) {
    v = d.mean + d.stddev * rng.normal();
    lo = d.min ?? lo;
    hi = d.max ?? hi;
  } else if ('median' in d) {
    v = d.median * Math.exp(d.sigma * rng.normal());
    lo = d.min ?? lo;
    hi = d.max ?? hi;
  } else {
    return Math.max(1, rng.int(d.min, d.max));
  }
  return Math.max(1, Math.round(Math.min(hi, Math.max(lo, v))));
}

/** Validates a distribution from a workload file; `where` names the field in errors. */
export function parseDist(raw: unknown, where: string): Dist {
  const num = (v: unknown, name: string, min = 0): number => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min) {
      throw new Error(`${where}.${name} must be a number >= ${min}`);
    }
    return v;
  };
  if (typeof raw === 'number') return num(raw, '(value)', 1);
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new Error(`${where} must be a number or one of {min,max}, {mean,stddev}, {median,sigma}`);
  }
  const o = raw as Record<string, unknown>;
  const bounds = () => ({
    ...(o.min !== undefined ? { min: num(o.min, 'min', 1) } : {}),
    ...(o.max !== undefined ? { max: num(o.max, 'max', 1) } : {}),
  });
  if (o.mean !== undefined) return { mean: num(o.mean, 'mean', 1), stddev: num(o.stddev ?? 0, 'stddev'), ...bounds() };
  if (o.median !== undefined) return { median: num(o.median, 'median', 1), sigma: num(o.sigma ?? 0, 'sigma'), ...bounds() };
  if (o.min !== undefined && o.max !== undefined) {
    const min = Math.round(num(o.min, 'min', 1));
    const max = Math.round(num(o.max, 'max', 1));
    if (max < min) throw new Error(`${where}.max must be >= min`);
    return { min, max };
  }
  throw new Error(`${where} must be a number or one of {min,max}, {mean,stddev}, {median,sigma}`);
}
