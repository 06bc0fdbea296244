import type { Endpoint } from '../../datastore/endpoint.js';
import { DEFAULT_SATURATION, queueNow, type SaturationThresholds } from '../fairness/saturation.js';
import { effectiveLoad } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';
import { numArg } from './args.js';

const NAME = 'load-guard';

export function saturationArgs(args: PluginArgs, plugin: string): SaturationThresholds {
  return {
    queueDepth: numArg(args, plugin, 'queueDepthThreshold', DEFAULT_SATURATION.queueDepth),
    kvCacheUsage: numArg(args, plugin, 'kvCacheThreshold', DEFAULT_SATURATION.kvCacheUsage, 0, 1),
  };
}

/**
 * Which candidates are overloaded: KV use at or above `kvCacheUsage`, or both a queue and a total load (running +
 * queued) at least `queueDepth` above the candidates' smallest. Relative, and on both counts, because engines that
 * prefill long prompts in chunks all queue at once while their total loads stay even: a bound on the queue alone
 * would then push every request onto the one endpoint whose requests happen to be running.
 */
export function overloaded(eps: readonly Endpoint[], t: SaturationThresholds): boolean[] {
  const queues = eps.map(queueNow);
  const loads = eps.map(effectiveLoad);
  const shortest = Math.min(...queues);
  const lightest = Math.min(...loads);
  return eps.map((e, i) => {
    const m = e.state.metrics;
    if (!m || e.state.stale) return false;
    if (m.kvCacheUsage >= t.kvCacheUsage) return true;
    return queues[i]! - shortest >= t.queueDepth && loads[i]! - lightest >= t.queueDepth;
  });
}

/**
 * Overload guard, so that affinity scorers cannot pile requests onto one pod.
 * Filter: drops overloaded endpoints (queue and load both ≥ queueDepthThreshold, default 5, above the smallest, or KV
 * use ≥ kvCacheThreshold, default 0.9); keeps them all when every one is.
 * Score: load in absolute terms, not min-max: 100 for the least-loaded endpoint, minus 100/maxExcessLoad (default 8)
 * per request above it, 0 when overloaded. Next to prefix-cache (weight P) with weight G, an endpoint holding the
 * whole prefix keeps winning while it carries fewer than maxExcessLoad × P / G requests more than the least-loaded
 * one; partial matches earn proportionally less slack.
 */
export function loadGuard(args: PluginArgs): Plugin {
  const t = saturationArgs(args, NAME);
  const maxExcess = numArg(args, NAME, 'maxExcessLoad', 8, 1e-9);
  return {
    name: NAME,
    filter(_req, eps) {
      const over = overloaded(eps, t);
      const ok = eps.filter((_, i) => !over[i]);
      return ok.length > 0 ? ok : eps;
    },
    score(_req, eps) {
      const loads = eps.map(effectiveLoad);
      const min = Math.min(...loads);
      const over = overloaded(eps, t);
      const all = over.every(Boolean);
      return eps.map((_, i) => (over[i] && !all ? 0 : Math.max(0, 100 * (1 - (loads[i]! - min) / maxExcess))));
    },
  };
}
