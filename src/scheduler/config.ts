import { ConfigError } from '../config/errors.js';
import { rejectUnknownKeys } from '../config/keys.js';
import { section } from '../config/read.js';
import type { PluginArgs } from './types.js';

/** Kthena's `scheduler` section, normalised. */
export interface SchedulerConfig {
  filters: string[];
  scores: Array<{ name: string; weight: number }>;
  args: Map<string, PluginArgs>;
  /** Length of the ranked list sent to the gateway (primary + fallbacks); Kthena uses 5. */
  topN: number;
}

/**
 * Used when no scheduler section is configured: prefix affinity, load and GPU speed weighed in one cost
 * (prefix-load), adapters kept where they are loaded (lora-affinity). It wins or ties on every workload of
 * `npm run bench:scheduling` (docs/benchmarks.md). prefix-load's own overload rule stays at its default (no credit
 * at 90% KV use, no queue rule); bench/configs/ours.yaml spells out the same configuration.
 */
export const DEFAULT_SCHEDULER: SchedulerConfig = {
  filters: ['lora-affinity'],
  scores: [
    { name: 'prefix-load', weight: 2 },
    { name: 'lora-affinity', weight: 1 },
  ],
  args: new Map([
    [
      'prefix-load',
      {
        charsPerLoadUnit: 1024,
        maxCredit: 32,
        maxExcessLoad: 8,
        maxHashCacheSize: 100_000,
      },
    ],
  ]),
  topN: 5,
};

export { ConfigError };

/**
 * Accepts Kthena's shape: `{ pluginConfig: [{name, args}], plugins: { Filter: {enabled, disabled}, Score: {enabled:
 * [{name, weight}], disabled} }, topN? }`. Unknown plugin names are rejected by the scheduler, which knows the
 * registry.
 */
export function parseSchedulerConfig(raw: unknown): SchedulerConfig {
  if (raw === undefined || raw === null) return DEFAULT_SCHEDULER;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new ConfigError('scheduler must be a mapping');
  const s = raw as Record<string, any>;
  rejectUnknownKeys(s, 'scheduler', ['pluginConfig', 'plugins', 'topN']);
  const args = new Map<string, PluginArgs>();
  for (const [i, pc] of asArray(s.pluginConfig, 'scheduler.pluginConfig').entries()) {
    if (typeof pc?.name !== 'string') throw new ConfigError('scheduler.pluginConfig[].name must be a string');
    rejectUnknownKeys(pc, `scheduler.pluginConfig[${i}]`, ['name', 'args']);
    args.set(pc.name, (pc.args ?? {}) as PluginArgs);
  }
  const plugins = section(s.plugins, 'scheduler.plugins', ['Filter', 'Score']);
  section(plugins.Filter, 'scheduler.plugins.Filter', ['enabled', 'disabled']);
  section(plugins.Score, 'scheduler.plugins.Score', ['enabled', 'disabled']);
  const filterDisabled = new Set(asArray(plugins.Filter?.disabled, 'scheduler.plugins.Filter.disabled').map(String));
  const filters = asArray(plugins.Filter?.enabled, 'scheduler.plugins.Filter.enabled')
    .map(String)
    .filter((n) => !filterDisabled.has(n));
  const scoreDisabled = new Set(
    asArray(plugins.Score?.disabled, 'scheduler.plugins.Score.disabled').map((p) => String(p?.name ?? p)),
  );
  const scores = asArray(plugins.Score?.enabled, 'scheduler.plugins.Score.enabled')
    .map((p) => {
      const name = typeof p === 'string' ? p : p?.name;
      const weight = typeof p === 'string' || p?.weight === undefined ? 1 : Number(p.weight);
      if (typeof name !== 'string') throw new ConfigError('scheduler.plugins.Score.enabled[].name must be a string');
      if (!Number.isFinite(weight) || weight < 0) throw new ConfigError(`weight of score plugin ${name} must be >= 0`);
      return { name, weight };
    })
    .filter((p) => !scoreDisabled.has(p.name));
  const topN = s.topN === undefined ? 5 : Number(s.topN);
  if (!Number.isInteger(topN) || topN < 1 || topN > 32) throw new ConfigError('scheduler.topN must be in 1..32');
  if (scores.length === 0) throw new ConfigError('scheduler.plugins.Score.enabled must name at least one plugin');
  return { filters, scores, args, topN };
}

function asArray(v: unknown, field: string): any[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError(`${field} must be a list`);
  return v;
}
