import { ConfigError } from './errors.js';

/** An optional mapping of the configuration; `name` is its path, for the error message. */
export function section(v: unknown, name: string): Record<string, any> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${name} must be a mapping`);
  return v as Record<string, any>;
}

/** An optional number of at least `min`, `dflt` when absent. */
export function num(v: unknown, dflt: number, name: string, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`${name} must be a number >= ${min}`);
  return n;
}
