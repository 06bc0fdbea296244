// Small typed readers for hand-written configuration. Every error names the offending path (`auth.jwt.algorithms[1]`)
// so a bad config fails at startup with a message the operator can act on. Shared by the auth and rate-limit configs.

import { ConfigError } from '../../config/errors.js';
import { rejectUnknownKeys } from '../../config/keys.js';

export { ConfigError };

export type Obj = Record<string, unknown>;

export function isObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function object(v: unknown, path: string, allowed?: readonly string[]): Obj {
  if (!isObject(v)) throw new ConfigError(`${path}: must be a mapping`);
  if (allowed) rejectUnknownKeys(v, path, allowed);
  return v;
}

export function optObject(v: unknown, path: string, allowed?: readonly string[]): Obj | undefined {
  return v === undefined || v === null ? undefined : object(v, path, allowed);
}

export function str(v: unknown, path: string): string {
  if (typeof v !== 'string' || v === '') throw new ConfigError(`${path}: must be a non-empty string`);
  return v;
}

export function optStr(v: unknown, path: string): string | undefined {
  return v === undefined || v === null ? undefined : str(v, path);
}

export function num(v: unknown, path: string, opts: { min?: number; integer?: boolean } = {}): number {
  const n = typeof v === 'string' && v.trim() !== '' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new ConfigError(`${path}: must be a number`);
  if (opts.integer && !Number.isInteger(n)) throw new ConfigError(`${path}: must be an integer`);
  if (opts.min !== undefined && n < opts.min) throw new ConfigError(`${path}: must be >= ${opts.min}`);
  return n;
}

export function optNum(v: unknown, path: string, def: number, opts: { min?: number; integer?: boolean } = {}): number {
  return v === undefined || v === null ? def : num(v, path, opts);
}

export function bool(v: unknown, path: string, def: boolean): boolean {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'boolean') throw new ConfigError(`${path}: must be true or false`);
  return v;
}

export function oneOf<T extends string>(v: unknown, path: string, values: readonly T[], def: T): T {
  if (v === undefined || v === null) return def;
  if (typeof v !== 'string' || !values.includes(v as T)) {
    throw new ConfigError(`${path}: must be one of ${values.join(', ')}`);
  }
  return v as T;
}

/** A list of non-empty strings; a single string is accepted as a one-element list. */
export function strList(v: unknown, path: string): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [str(v, path)];
  if (!Array.isArray(v)) throw new ConfigError(`${path}: must be a list of strings`);
  return v.map((x, i) => str(x, `${path}[${i}]`));
}

export function list(v: unknown, path: string): unknown[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(`${path}: must be a list`);
  return v;
}

/** Glob (`*` = any run of characters) → anchored RegExp. */
export function globToRegExp(glob: string): RegExp {
  const body = glob
    .split('*')
    .map((s) => s.replace(/[\\^$.+?()[\]{}|/]/g, '\\$&'))
    .join('.*');
  return new RegExp(`^${body}$`);
}

export function httpUrl(v: unknown, path: string): string {
  const s = str(v, path);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ConfigError(`${path}: not a valid URL`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`${path}: must be an http(s) URL`);
  return s;
}
