import { KvEventsFleet } from '../../kv-events/fleet.js';
import { SUPPORTED_HASH_ALGOS, DEFAULT_NONE_HASH_SEED, VllmBlockHasher, type VllmHashAlgo } from '../../kv-events/vllm-hash.js';
import { logger } from '../../observability/logger.js';
import { tokenize as simTokenize } from '../../sim/tokenizer.js';
import { CharPrefixMatcher } from '../prefix/char-matcher.js';
import type { PrefixMatcher } from '../prefix/matcher.js';
import { PrecisePrefixMatcher } from '../prefix/precise-matcher.js';
import { lazyEncoders } from '../prefix/tokens.js';
import type { Plugin, PluginArgs } from '../types.js';
import { intArg, strArg } from './args.js';
import { tokenMatcherFromArgs } from './kvcache-aware.js';
import { charMatcherOptions, matcherPlugin } from './prefix-cache.js';

const NAME = 'precise-prefix';

/**
 * Score: the fraction of the prompt's leading KV blocks an endpoint's engine reports holding (vLLM KV-cache events,
 * --kv-events-config), × 100; endpoints without events are scored by the approximate index (`fallback`). The
 * prompt is hashed as the engine does: tokenizer (`model`: the model's tokenizer from src/tokenizer; `simulator`:
 * kthena-sim's), blockSize, hashAlgorithm (vLLM's --prefix-caching-hash-algo: sha256 or sha256_cbor) and hashSeed
 * (the engine's PYTHONHASHSEED; recent vLLM's default otherwise). See README "Precise prefix routing".
 */
export function precisePrefix(args: PluginArgs): Plugin & { close(): Promise<void> } {
  return matcherPlugin(NAME, preciseMatcherFromArgs(args, NAME));
}

/** The precise matcher configured by precise-prefix's args (also prefix-load's with `matcher: precise`). */
export function preciseMatcherFromArgs(args: PluginArgs, plugin: string): PrefixMatcher {
  const blockSize = intArg(args, plugin, 'blockSize', 16);
  const maxBlocksToMatch = intArg(args, plugin, 'maxBlocksToMatch', 128);
  const algo = strArg(args, plugin, 'hashAlgorithm', 'sha256');
  const hashSeed = strArg(args, plugin, 'hashSeed', DEFAULT_NONE_HASH_SEED);
  const tokenizer = strArg(args, plugin, 'tokenizer', 'model');
  if (tokenizer !== 'model' && tokenizer !== 'simulator') throw new Error(`${plugin}: tokenizer must be model or simulator`);
  const fallbackKind = strArg(args, plugin, 'fallback', 'chars');
  if (fallbackKind !== 'chars' && fallbackKind !== 'tokens') throw new Error(`${plugin}: fallback must be chars or tokens`);
  const fleetOptions = {
    eventsPort: intArg(args, plugin, 'eventsPort', 5557, 1, 65535),
    replayPort: args.replayPort === undefined || args.replayPort === null ? undefined : intArg(args, plugin, 'replayPort', 0, 1, 65535),
    topic: strArg(args, plugin, 'topic', ''),
    blockSize,
    reconnectMs: intArg(args, plugin, 'reconnectMs', 100),
    reconnectMaxMs: intArg(args, plugin, 'reconnectMaxMs', 5000),
    replayTimeoutMs: intArg(args, plugin, 'replayTimeoutMs', 2000),
    maxPendingBatches: intArg(args, plugin, 'maxPendingBatches', 10_000),
    maxBlocksPerPod: intArg(args, plugin, 'maxBlocksPerPod', 1_000_000),
  };
  const maxPendingBlocks = intArg(args, plugin, 'maxPendingBlocks', 100_000);
  const fallback =
    fallbackKind === 'tokens' ? tokenMatcherFromArgs(args, plugin) : new CharPrefixMatcher(charMatcherOptions(args, plugin));
  const supported = (SUPPORTED_HASH_ALGOS as readonly string[]).includes(algo);
  if (!supported) {
    logger.warn(
      { plugin, hashAlgorithm: algo, supported: SUPPORTED_HASH_ALGOS },
      'precise-prefix: unsupported hash algorithm; every endpoint is scored by the approximate prefix index',
    );
  }
  const hasher = new VllmBlockHasher(supported ? (algo as VllmHashAlgo) : 'sha256', hashSeed);
  logger.info({ plugin, blockSize, hashAlgorithm: algo, tokenizer, eventsPort: fleetOptions.eventsPort }, 'precise-prefix: hashing prompts as the engines do');
  return new PrecisePrefixMatcher({
    fleet: supported ? new KvEventsFleet(fleetOptions) : undefined,
    hasher,
    blockSize,
    maxBlocksToMatch,
    encoderFor: tokenizer === 'simulator' ? () => simTokenize : lazyEncoders(),
    fallback,
    maxPendingBlocks,
  });
}
