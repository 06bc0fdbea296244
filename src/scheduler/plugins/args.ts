import type { PluginArgs } from '../types.js';

// Validation of plugin args as users write them in YAML: absent → default, wrong type or range → a clear error at
// configuration time (never at request time).

export function intArg(args: PluginArgs, plugin: string, name: string, def: number, min = 1, max = Number.MAX_SAFE_INTEGER): number {
  const v = args[name] === undefined ? def : Number(args[name]);
  if (!Number.isInteger(v) || v < min || v > max) throw new Error(`${plugin}: ${name} must be an integer in ${min}..${max}`);
  return v;
}

export function numArg(args: PluginArgs, plugin: string, name: string, def: number, min = 0, max = Number.MAX_VALUE): number {
  const v = args[name] === undefined ? def : Number(args[name]);
  if (!Number.isFinite(v) || v < min || v > max) throw new Error(`${plugin}: ${name} must be a number in ${min}..${max}`);
  return v;
}

export function strArg(args: PluginArgs, plugin: string, name: string, def: string): string {
  const v = args[name] ?? def;
  if (typeof v !== 'string') throw new Error(`${plugin}: ${name} must be a string`);
  return v;
}

export function optStrArg(args: PluginArgs, plugin: string, name: string): string | undefined {
  const v = args[name];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw new Error(`${plugin}: ${name} must be a string`);
  return v;
}

export function boolArg(args: PluginArgs, plugin: string, name: string, def: boolean): boolean {
  const v = args[name] ?? def;
  if (typeof v !== 'boolean') throw new Error(`${plugin}: ${name} must be true or false`);
  return v;
}

/** A mapping of string → positive number (e.g. GPU type → relative speed). */
export function numberMapArg(args: PluginArgs, plugin: string, name: string): Map<string, number> {
  const v = args[name];
  const out = new Map<string, number>();
  if (v === undefined || v === null) return out;
  if (typeof v !== 'object' || Array.isArray(v)) throw new Error(`${plugin}: ${name} must be a mapping`);
  for (const [k, raw] of Object.entries(v)) {
    const n = Number(raw);
    if (!Number.isFinite(n) || n <= 0) throw new Error(`${plugin}: ${name}.${k} must be a positive number`);
    out.set(k, n);
  }
  return out;
}
