import type { SaturationThresholds } from '../fairness/saturation.js';
import { effectiveLoad } from '../load.js';
import { CharPrefixMatcher } from '../prefix/char-matcher.js';
import type { Plugin, PluginArgs } from '../types.js';
import { boolArg, numArg, strArg } from './args.js';
import { CapacityEstimator, capacityOptions } from './capacity.js';
import { tokenMatcherFromArgs } from './kvcache-aware.js';
import { preciseMatcherFromArgs } from './precise-prefix.js';
import { overloaded, saturationArgs } from './load-guard.js';
import { charMatcherOptions, matcherPlugin } from './prefix-cache.js';
import { observeBestMatch } from '../prefix/match-metrics.js';

const NAME = 'prefix-load';

/**
 * When a holder earns no credit. The cost already weighs queues, so by default only a KV cache about to preempt
 * cancels the credit. A queue rule (queueDepthThreshold) is opt-in: long prompts make every engine queue while it
 * prefills, and a rule relative to the idlest pod then strips busy holders of their credit and thrashes caches.
 */
const OVERLOAD: SaturationThresholds = { queueDepth: Infinity, kvCacheUsage: 0.9 };

/**
 * Prefix affinity, load and GPU speed in one cost, for a default that needs no weight tuning. A request's time to
 * first token on an endpoint is roughly (the work queued there + the prefill it still needs) / the GPU's speed; in
 * units of one request of load:
 *
 *   credit = min(maxCredit, matchedFraction × promptChars / charsPerLoadUnit)   (0 on an overloaded endpoint)
 *   cost   = (load + 1 + promptChars / charsPerLoadUnit − credit) / relativeCapacity
 *
 * load is running + waiting + unscraped picks. charsPerLoadUnit (default 1024, about 250 tokens) is the prefill
 * worth one request of load: a running request costs an engine little (it shares every decode step), while a prefill
 * stalls every request on the engine, so a cached 4k-token prompt is worth ~16 requests. maxCredit (default 32)
 * bounds the extra load a cached prefix may attract; an overloaded holder (load-guard's rule: KV use ≥
 * kvCacheThreshold, default 0.9, or, only when queueDepthThreshold is set, its queue and its load per unit of
 * capacity both that far above the lightest candidate's) earns no credit, so a hot prefix spreads: the next request
 * goes elsewhere and that endpoint becomes a second holder. Short prompts earn
 * almost no credit: the plugin then balances load like least-request. relativeCapacity is 1 on a homogeneous fleet
 * (gpuAware: false forces that), else as in gpu-aware (pod label or GPU-type table; learned only with learn: true).
 * Score: absolute, so that it composes with other scorers by weight: 100 for the cheapest endpoint, minus
 * 100 / maxExcessLoad (default 8) per unit of cost above it.
 * Args: matcher (chars, default: prefix-cache's index and args; tokens: kvcache-aware's, with per-endpoint KV
 * capacity and optional Redis sharing; precise: precise-prefix's, from the engines' KV-cache events), load-guard's
 * thresholds, gpu-aware's capacity args, and the above.
 */
export function prefixLoad(args: PluginArgs): Plugin & { close(): Promise<void> } {
  const kind = strArg(args, NAME, 'matcher', 'chars');
  if (kind !== 'chars' && kind !== 'tokens' && kind !== 'precise') throw new Error(`${NAME}: matcher must be chars, tokens or precise`);
  const charsPerUnit = numArg(args, NAME, 'charsPerLoadUnit', 1024, 1);
  const maxCredit = numArg(args, NAME, 'maxCredit', 32, 0);
  const maxExcess = numArg(args, NAME, 'maxExcessLoad', 8, 1e-9);
  const t = saturationArgs(args, NAME, OVERLOAD);
  const capacity = boolArg(args, NAME, 'gpuAware', true) ? new CapacityEstimator(capacityOptions(args, NAME)) : undefined;
  const matcher =
    kind === 'tokens'
      ? tokenMatcherFromArgs(args, NAME)
      : kind === 'precise'
        ? preciseMatcherFromArgs(args, NAME)
        : new CharPrefixMatcher(charMatcherOptions(args, NAME));
  const base = matcherPlugin(NAME, matcher);
  return {
    ...base,
    score(req, eps) {
      const fractions = matcher.fractions(req, eps);
      observeBestMatch(NAME, req.model, fractions);
      const prompt = req.promptText.length / charsPerUnit;
      const caps = capacity?.relative(eps);
      const over = overloaded(eps, t, caps);
      const costs = new Array<number>(eps.length);
      let min = Infinity;
      for (let i = 0; i < eps.length; i++) {
        const credit = over[i] ? 0 : Math.min(maxCredit, fractions[i]! * prompt);
        const c = (effectiveLoad(eps[i]!) + 1 + prompt - credit) / (caps?.[i] ?? 1);
        costs[i] = c;
        if (c < min) min = c;
      }
      for (let i = 0; i < costs.length; i++) costs[i] = Math.max(0, 100 * (1 - (costs[i]! - min) / maxExcess));
      return costs;
    },
    onEndpointsRemoved(addresses) {
      base.onEndpointsRemoved!(addresses);
      capacity?.forget(addresses);
    },
  };
}
