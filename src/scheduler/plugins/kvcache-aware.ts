import type { PrefixMatcher } from '../prefix/matcher.js';
import { SharedBlockOwners } from '../prefix/shared-blocks.js';
import { TokenPrefixMatcher } from '../prefix/token-matcher.js';
import { lazyEncoders, type Encode } from '../prefix/tokens.js';
import type { Plugin, PluginArgs } from '../types.js';
import { intArg, optStrArg, strArg } from './args.js';
import { matcherPlugin } from './prefix-cache.js';

const NAME = 'kvcache-aware';

export interface TokenMatcherDeps {
  /** Token encoder per model; default: src/tokenizer's, loaded on first use. */
  encoderFor?: (model: string) => Encode | undefined;
}

/**
 * Score: the fraction of the prompt's leading KV blocks (blockSizeToHash tokens each, default 16 as in vLLM) an
 * endpoint is believed to hold, × 100. Token ids come from src/tokenizer (the model's tokenizer.json when registered,
 * else an OpenAI encoding). Args: blockSizeToHash, maxBlocksToMatch, blocksPerEndpoint (when metrics lack
 * num_gpu_blocks), redis {address, keyPrefix, ttlSeconds, refreshMs, flushMs, maxCachedBlocks, maxPending} to share
 * the index between router replicas.
 */
export function kvcacheAware(args: PluginArgs, deps: TokenMatcherDeps = {}): Plugin & { close(): Promise<void> } {
  return matcherPlugin(NAME, tokenMatcherFromArgs(args, NAME, deps));
}

/** The token-block matcher configured by kvcache-aware's args (also prefix-load's with `matcher: tokens`). */
export function tokenMatcherFromArgs(args: PluginArgs, plugin: string, deps: TokenMatcherDeps = {}): PrefixMatcher {
  // Every arg is validated before a Redis connection exists, so a bad config leaks nothing.
  const blockSizeToHash = intArg(args, plugin, 'blockSizeToHash', 16);
  const maxBlocksToMatch = intArg(args, plugin, 'maxBlocksToMatch', 128);
  const defaultBlocksPerEndpoint = intArg(args, plugin, 'blocksPerEndpoint', 10_000);
  const redis = parseRedisArgs(args.redis, plugin);
  return new TokenPrefixMatcher({
    blockSizeToHash,
    maxBlocksToMatch,
    defaultBlocksPerEndpoint,
    encoderFor: deps.encoderFor ?? lazyEncoders(),
    shared: redis && SharedBlockOwners.connect(redis.address, redis),
  });
}

function parseRedisArgs(raw: unknown, plugin: string) {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw new Error(`${plugin}: redis must be a mapping`);
  const r = raw as PluginArgs;
  const address = optStrArg(r, plugin, 'address');
  if (!address || !/^[^\s:]+:\d{1,5}$/.test(address)) throw new Error(`${plugin}: redis.address must be host:port`);
  return {
    address,
    keyPrefix: strArg(r, plugin, 'keyPrefix', 'kthena-router:kv:'),
    ttlSeconds: intArg(r, plugin, 'ttlSeconds', 600),
    refreshMs: intArg(r, plugin, 'refreshMs', 1000),
    flushMs: intArg(r, plugin, 'flushMs', 50),
    maxCachedBlocks: intArg(r, plugin, 'maxCachedBlocks', 100_000),
    maxPending: intArg(r, plugin, 'maxPending', 20_000),
  };
}
