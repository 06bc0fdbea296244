import { CharPrefixMatcher, type CharMatcherOptions } from '../prefix/char-matcher.js';
import type { PrefixMatcher } from '../prefix/matcher.js';
import type { Plugin, PluginArgs } from '../types.js';
import { observeBestMatch } from '../prefix/match-metrics.js';
import { intArg } from './args.js';

/**
 * Score: the fraction of the prompt's leading blocks an endpoint is believed to hold, × 100 (Kthena's prefix-cache:
 * args blockSizeToHash, maxBlocksToMatch, maxHashCacheSize, topKMatches). The index learns from every pick, moves a
 * claim to the endpoint the gateway reports as served, drops it when the request fails, and forgets removed pods.
 */
export function prefixCache(args: PluginArgs): Plugin & { close(): Promise<void> } {
  return matcherPlugin('prefix-cache', new CharPrefixMatcher(charMatcherOptions(args, 'prefix-cache')));
}

/** A score + lifecycle plugin over a prefix matcher. */
export function matcherPlugin(name: string, m: PrefixMatcher): Plugin & { close(): Promise<void> } {
  return {
    name,
    score: (req, eps) => {
      const fractions = m.fractions(req, eps);
      observeBestMatch(name, req.model, fractions);
      return fractions.map((f) => 100 * f);
    },
    onPicked: (req, ep) => m.picked(req, ep),
    onServed: (req, ep) => m.served(req, ep),
    onComplete: (req, ep, outcome) => m.completed(req, ep, outcome),
    onEndpointsRemoved: (addresses) => m.removed(addresses),
    close: async () => m.close?.(),
  };
}

/** prefix-cache's args (Kthena's names and defaults), also read by prefix-load. */
export function charMatcherOptions(args: PluginArgs, plugin: string): CharMatcherOptions {
  return {
    blockSizeToHash: intArg(args, plugin, 'blockSizeToHash', 64),
    maxBlocksToMatch: intArg(args, plugin, 'maxBlocksToMatch', 128),
    maxHashCacheSize: intArg(args, plugin, 'maxHashCacheSize', 50_000),
    topKMatches: intArg(args, plugin, 'topKMatches', 5),
  };
}
