import type { Endpoint } from '../../datastore/endpoint.js';
import { DEFAULT_SATURATION, queueNow, type SaturationThresholds } from '../fairness/saturation.js';
import { effectiveLoad } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';
import { boolArg, numArg } from './args.js';
import { CapacityEstimator, capacityOptions } from './capacity.js';

const NAME = 'load-guard';

/** The thresholds from a plugin's args; an unset queueDepthThreshold may default to Infinity (no queue rule). */
export function saturationArgs(args: PluginArgs, plugin: string, defaults: SaturationThresholds = DEFAULT_SATURATION): SaturationThresholds {
  return {
    queueDepth: args.queueDepthThreshold === undefined ? defaults.queueDepth : numArg(args, plugin, 'queueDepthThreshold', 0),
    kvCacheUsage: numArg(args, plugin, 'kvCacheThreshold', defaults.kvCacheUsage, 0, 1),
  };
}

/**
 * Which candidates are overloaded: KV use at or above `kvCacheUsage`, or both a queue and a total load (running +
 * queued) at least `queueDepth` above the candidates' smallest. Relative, and on both counts, because engines that
 * prefill long prompts in chunks all queue at once while their total loads stay even: a bound on the queue alone
 * would then push every request onto the one endpoint whose requests happen to be running. Queues and loads are
 * divided by each endpoint's relative capacity (`caps`, 1 when absent): a pod on a GPU twice as fast drains twice
 * the work in the same time, and a scheduler that knows it gives that pod more; compared raw, those pods would look
 * overloaded next to the slower ones and lose their work to them.
 */
export function overloaded(eps: readonly Endpoint[], t: SaturationThresholds, caps?: readonly number[]): boolean[] {
  const out = new Array<boolean>(eps.length).fill(false);
  const queueRule = Number.isFinite(t.queueDepth);
  const queues = queueRule ? eps.map((e, i) => queueNow(e) / (caps?.[i] ?? 1)) : [];
  const loads = queueRule ? eps.map((e, i) => effectiveLoad(e) / (caps?.[i] ?? 1)) : [];
  const shortest = Math.min(...queues);
  const lightest = Math.min(...loads);
  for (let i = 0; i < eps.length; i++) {
    const m = eps[i]!.state.metrics;
    if (!m || eps[i]!.state.stale) continue;
    out[i] = m.kvCacheUsage >= t.kvCacheUsage || (queueRule && queues[i]! - shortest >= t.queueDepth && loads[i]! - lightest >= t.queueDepth);
  }
  return out;
}

/**
 * Overload guard, so that affinity scorers cannot pile requests onto one pod.
 * Filter: drops overloaded endpoints (queue and load both ≥ queueDepthThreshold, default 5, above the smallest, per
 * unit of GPU capacity, or KV use ≥ kvCacheThreshold, default 0.9); keeps them all when every one is. Capacity as in
 * gpu-aware (pod label or GPU-type table, learned only with learn: true); gpuAware: false compares raw counts.
 * Score: load in absolute terms, not min-max: 100 for the least-loaded endpoint, minus 100/maxExcessLoad (default 8)
 * per request (per unit of capacity) above it, 0 when overloaded. Next to prefix-cache (weight P) with weight G, an endpoint holding the
 * whole prefix keeps winning while it carries fewer than maxExcessLoad × P / G requests more than the least-loaded
 * one; partial matches earn proportionally less slack.
 */
export function loadGuard(args: PluginArgs): Plugin {
  const t = saturationArgs(args, NAME);
  const maxExcess = numArg(args, NAME, 'maxExcessLoad', 8, 1e-9);
  const capacity = boolArg(args, NAME, 'gpuAware', true) ? new CapacityEstimator(capacityOptions(args, NAME)) : undefined;
  return {
    name: NAME,
    filter(_req, eps) {
      const over = overloaded(eps, t, capacity?.relative(eps));
      const ok = eps.filter((_, i) => !over[i]);
      return ok.length > 0 ? ok : eps;
    },
    score(_req, eps) {
      const caps = capacity?.relative(eps);
      const loads = eps.map((e, i) => effectiveLoad(e) / (caps?.[i] ?? 1));
      const min = Math.min(...loads);
      const over = overloaded(eps, t, caps);
      const all = over.every(Boolean);
      return eps.map((_, i) => (over[i] && !all ? 0 : Math.max(0, 100 * (1 - (loads[i]! - min) / maxExcess))));
    },
    onEndpointsRemoved(addresses) {
      capacity?.forget(addresses);
    },
  };
}
