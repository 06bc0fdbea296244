import { Counter } from 'prom-client';
import { ConfigError } from '../config/errors.js';
import { num, section } from '../config/read.js';
import { registry } from '../observability/metrics.js';
import type { TargetModel } from '../resources/types.js';
import type { SaturationThresholds } from '../scheduler/fairness/saturation.js';

// Spill-over: a ModelRoute whose rule mixes ModelServers and ExternalModelProviders keeps its provider targets for
// overflow. Requests go to the ModelServers while any of their pods has room; once every eligible pod is saturated
// (flow control's signal: queue depth or KV-cache use at the thresholds), they go to the route's spill provider.

export interface SpillPolicy {
  /** ExternalModelProvider names (targets of the rule) that take the overflow, in order; empty: every provider target. */
  providers: string[];
  saturation: SaturationThresholds;
}

/** Spill policies by ModelRoute, keyed `<namespace>/<name>`. */
export type SpillOverConfig = ReadonlyMap<string, SpillPolicy>;

/**
 * Parses the `spillOver` section:
 *   spillOver:
 *     routes:
 *       <namespace>/<route>: {providers: [name, ...], saturation: {queueDepth, kvCacheUsage}}
 * Saturation defaults to flow control's thresholds.
 */
export function parseSpillOverConfig(raw: unknown, defaults: SaturationThresholds): SpillOverConfig {
  const s = section(raw, 'spillOver', ['routes']);
  // Route names are the keys: any is allowed here, each is checked below.
  const routes = section(s.routes, 'spillOver.routes', Object.keys(s.routes ?? {}));
  const out = new Map<string, SpillPolicy>();
  for (const [route, rawPolicy] of Object.entries(routes)) {
    const where = `spillOver.routes.${route}`;
    if (!/^[^/\s]+\/[^/\s]+$/.test(route)) throw new ConfigError(`${where}: a route is named <namespace>/<name>`);
    const p = section(rawPolicy, where, ['providers', 'saturation']);
    const providers = p.providers ?? [];
    if (!Array.isArray(providers) || providers.some((n) => typeof n !== 'string' || n === '')) {
      throw new ConfigError(`${where}.providers must be a list of ExternalModelProvider names`);
    }
    const sat = section(p.saturation, `${where}.saturation`, ['queueDepth', 'kvCacheUsage']);
    out.set(route, {
      providers,
      saturation: {
        queueDepth: num(sat.queueDepth, defaults.queueDepth, `${where}.saturation.queueDepth`, 1),
        kvCacheUsage: num(sat.kvCacheUsage, defaults.kvCacheUsage, `${where}.saturation.kvCacheUsage`, 0),
      },
    });
  }
  return out;
}

/** The rule's targets reserved for overflow under `policy`: its provider targets, or those the policy names. */
export function overflowTargets(targets: readonly TargetModel[], policy: SpillPolicy): TargetModel[] {
  const providers = targets.filter((t) => t.externalModelProviderName);
  if (policy.providers.length === 0) return providers;
  return policy.providers.flatMap((name) => providers.filter((t) => t.externalModelProviderName === name));
}

export const spilledRequests = new Counter({
  name: 'kthena_router_spillover_requests_total',
  help: 'Requests sent to an external provider because every eligible pod of their route was saturated, by route and provider.',
  labelNames: ['route', 'provider'] as const,
  registers: [registry],
});
