import { ConfigError } from './errors.js';
import { rejectUnknownKeys } from './keys.js';

/** An optional mapping of the configuration with these keys; `name` is its path, for the error message. */
export function section(v: unknown, name: string, allowed: readonly string[]): Record<string, any> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ConfigError(`${name} must be a mapping`);
  rejectUnknownKeys(v as Record<string, unknown>, name, allowed);
  return v as Record<string, any>;
}

/** An optional number of at least `min`, `dflt` when absent. */
export function num(v: unknown, dflt: number, name: string, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < min) throw new ConfigError(`${name} must be a number >= ${min}`);
  return n;
}
