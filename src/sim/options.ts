import { parseArgs } from 'node:util';
import { SUPPORTED_HASH_ALGOS, DEFAULT_NONE_HASH_SEED, type VllmHashAlgo } from '../kv-events/vllm-hash.js';
import { DEFAULT_COST, type CostParams } from './cost-model.js';
import { parseKvEventsConfig, type KvEventsConfig } from './kv-events-config.js';

export type EngineFlavour = 'vllm' | 'sglang';

/** vLLM's KV connector: `nixl` (NixlConnector, kv_role kv_both) honours kv_transfer_params, prefill or decode side. */
export type KvConnector = 'none' | 'nixl';

/** SGLang's --disaggregation-mode: a prefill or decode server of a P/D pair, or neither (`null`). */
export type DisaggregationMode = 'null' | 'prefill' | 'decode';

export interface SimOptions {
  /** Served model name (vLLM's --served-model-name). */
  model: string;
  /** Which engine's metric names /metrics serves. */
  engine: EngineFlavour;
  /** LoRA adapter names that are valid model names too. */
  loras: string[];
  maxLoras: number;
  /** GPU speed factor: 0.5 = every step takes twice as long. */
  speed: number;
  /** Wall-clock time per simulated time: 0.1 runs ten times faster than real time; 0 = as fast as possible. */
  timeScale: number;
  seed: number;
  kvBlocks: number;
  blockSize: number;
  maxNumSeqs: number;
  /** Token budget of one step (chunked prefill), like vLLM's --max-num-batched-tokens. */
  maxNumBatchedTokens: number;
  /** Longest prompt + output; never more than the KV cache holds. */
  maxModelLen: number;
  /** Output tokens when a request sets no max_tokens. */
  defaultMaxTokens: number;
  /** Upper bound applied to every request's max_tokens. */
  maxTokensCap: number;
  /** Probability that an inference request is answered with 503. */
  failRate: number;
  cost: CostParams;
  /** vLLM flavour only. */
  kvConnector: KvConnector;
  /** SGLang flavour only. */
  disaggregationMode: DisaggregationMode;
  /** Where a prefill-mode SGLang serves its bootstrap server (SGLang's default 8998; 0 = ephemeral). */
  disaggregationBootstrapPort: number;
  /**
   * How long P/D state waits: a vLLM prefill keeps KV blocks for a decode engine to read (VLLM_NIXL_ABORT_REQUEST_TIMEOUT,
   * 480 s), an SGLang prefill waits for its decode request and a decode for the KV (SGLang's bootstrap and waiting
   * timeouts, 300 s). Defaults per engine.
   */
  kvTransferTimeoutMs: number;
  /** Simulated time to move the KV of 1000 prompt tokens from the prefill to the decode engine. */
  kvTransferMsPer1kTokens: number;
  /** vLLM's --kv-events-config: publish KV-cache events over ZeroMQ (null: off). */
  kvEvents: KvEventsConfig | null;
  /** vLLM's --prefix-caching-hash-algo, used for the published block hashes. */
  prefixCachingHashAlgo: VllmHashAlgo;
  /** Seed of the first block's parent hash: vLLM's PYTHONHASHSEED, else its fixed default for sha256 variants. */
  hashSeed: string;
}

// Llama-3.1-8B on one A100-40GB (docs/simulator.md): ~19 GiB of KV at 128 KiB per token is ~9.5k blocks of 16.
export const DEFAULT_OPTIONS: Readonly<SimOptions> = Object.freeze({
  model: 'meta-llama/Llama-3.1-8B-Instruct',
  engine: 'vllm',
  loras: [],
  maxLoras: 1,
  speed: 1,
  timeScale: 1,
  seed: 1,
  kvBlocks: 9500,
  blockSize: 16,
  maxNumSeqs: 256,
  maxNumBatchedTokens: 2048,
  maxModelLen: 131072,
  defaultMaxTokens: 128,
  maxTokensCap: 4096,
  failRate: 0,
  cost: DEFAULT_COST,
  kvConnector: 'none',
  disaggregationMode: 'null',
  disaggregationBootstrapPort: 8998,
  kvTransferTimeoutMs: 480_000,
  // ~128 KiB of KV per token (Llama-3.1-8B) over a ~25 GB/s RDMA link.
  kvTransferMsPer1kTokens: 5,
  kvEvents: null,
  prefixCachingHashAlgo: 'sha256',
  hashSeed: DEFAULT_NONE_HASH_SEED,
});

const SGLANG_KV_TRANSFER_TIMEOUT_MS = 300_000;

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(message);
}

const isPositiveInt = (v: number): boolean => Number.isInteger(v) && v > 0;
const isPositive = (v: number): boolean => Number.isFinite(v) && v > 0;

/** Options as callers give them: anything may be left out, cost parameters one by one. */
export type SimOptionsInput = Partial<Omit<SimOptions, 'cost'>> & { cost?: Partial<CostParams> };

/** Fills defaults and validates; maxModelLen is clamped to the KV cache's capacity. Throws RangeError. */
export function resolveOptions(partial: SimOptionsInput = {}): SimOptions {
  const o: SimOptions = {
    ...DEFAULT_OPTIONS,
    ...partial,
    loras: [...(partial.loras ?? DEFAULT_OPTIONS.loras)],
    cost: { ...DEFAULT_OPTIONS.cost, ...partial.cost },
    kvTransferTimeoutMs:
      partial.kvTransferTimeoutMs ?? (partial.engine === 'sglang' ? SGLANG_KV_TRANSFER_TIMEOUT_MS : DEFAULT_OPTIONS.kvTransferTimeoutMs),
  };
  check(typeof o.model === 'string' && o.model.length > 0, 'model must be a non-empty string');
  check(o.engine === 'vllm' || o.engine === 'sglang', 'engine must be vllm or sglang');
  for (const name of o.loras) {
    check(typeof name === 'string' && /^[\w.\-/:]+$/.test(name), `invalid LoRA adapter name: ${JSON.stringify(name)}`);
    check(name !== o.model, `LoRA adapter ${name} has the base model's name`);
  }
  check(new Set(o.loras).size === o.loras.length, 'LoRA adapter names must be unique');
  check(isPositiveInt(o.maxLoras), 'max-loras must be a positive integer');
  check(isPositive(o.speed), 'speed must be a positive number');
  check(Number.isFinite(o.timeScale) && o.timeScale >= 0, 'time-scale must be a non-negative number');
  check(Number.isInteger(o.seed), 'seed must be an integer');
  check(isPositiveInt(o.kvBlocks), 'kv-blocks must be a positive integer');
  check(isPositiveInt(o.blockSize), 'block-size must be a positive integer');
  check(isPositiveInt(o.maxNumSeqs), 'max-num-seqs must be a positive integer');
  check(isPositiveInt(o.maxNumBatchedTokens), 'max-num-batched-tokens must be a positive integer');
  check(isPositiveInt(o.maxModelLen) && o.maxModelLen >= 2, 'max-model-len must be an integer >= 2');
  check(isPositiveInt(o.defaultMaxTokens), 'default-max-tokens must be a positive integer');
  check(isPositiveInt(o.maxTokensCap), 'max-tokens-cap must be a positive integer');
  check(Number.isFinite(o.failRate) && o.failRate >= 0 && o.failRate <= 1, 'fail-rate must be between 0 and 1');
  check(isPositive(o.cost.prefillTokensPerSec), 'prefill-tps must be a positive number');
  for (const [key, flag] of [
    ['decodeBaseMs', 'decode-base-ms'],
    ['decodePerSeqMs', 'decode-per-seq-ms'],
    ['kvReadMsPer1kTokens', 'kv-read-ms-per-1k'],
    ['loraLoadMs', 'lora-load-ms'],
    ['loraBatchOverhead', 'lora-overhead'],
  ] as const) {
    check(Number.isFinite(o.cost[key]) && o.cost[key] >= 0, `${flag} must be a non-negative number`);
  }
  check(o.cost.decodeBaseMs + o.cost.decodePerSeqMs > 0, 'a decode step must take some time');
  check(o.kvConnector === 'none' || o.kvConnector === 'nixl', 'kv-connector must be none or nixl');
  check(o.kvConnector === 'none' || o.engine === 'vllm', 'kv-connector is a vLLM option; SGLang uses disaggregation-mode');
  check(['null', 'prefill', 'decode'].includes(o.disaggregationMode), 'disaggregation-mode must be null, prefill or decode');
  check(o.disaggregationMode === 'null' || o.engine === 'sglang', 'disaggregation-mode is an SGLang option; vLLM uses kv-connector');
  check(
    Number.isInteger(o.disaggregationBootstrapPort) && o.disaggregationBootstrapPort >= 0 && o.disaggregationBootstrapPort <= 65535,
    'disaggregation-bootstrap-port must be 0..65535',
  );
  check(isPositive(o.kvTransferTimeoutMs), 'kv-transfer-timeout-ms must be a positive number');
  check(Number.isFinite(o.kvTransferMsPer1kTokens) && o.kvTransferMsPer1kTokens >= 0, 'kv-transfer-ms-per-1k must be a non-negative number');
  check(SUPPORTED_HASH_ALGOS.includes(o.prefixCachingHashAlgo), `prefix-caching-hash-algo must be one of ${SUPPORTED_HASH_ALGOS.join(', ')}`);
  check(typeof o.hashSeed === 'string', 'hashSeed must be a string');
  o.maxModelLen = Math.min(o.maxModelLen, o.kvBlocks * o.blockSize);
  return o;
}

export interface CliOptions {
  sim: SimOptionsInput;
  host: string;
  port: number;
  help: boolean;
}

export const CLI_USAGE = `Usage: kthena-sim [options]   (npx tsx src/sim/main.ts ...)
OpenAI-compatible simulated inference engine (vLLM or SGLang flavour) with a KV cache, prefix caching,
continuous batching, preemption and LoRA slots. Defaults model Llama-3.1-8B on one A100-40GB.

  --host ADDR                  listen address (default 127.0.0.1)
  --port N                     listen port, 0 = ephemeral (default 8000)
  --model NAME                 served model name (default ${DEFAULT_OPTIONS.model})
  --engine vllm|sglang         metric names to serve (default vllm)
  --lora a,b                   LoRA adapters, valid as model names
  --max-loras N                adapter slots on the GPU (default ${DEFAULT_OPTIONS.maxLoras})
  --lora-load-ms MS            cost of loading an adapter into a slot (default ${DEFAULT_COST.loraLoadMs})
  --speed F                    GPU speed factor, 0.5 = half as fast (default 1)
  --time-scale F               wall time per simulated time, 0.1 = 10x faster than real,
                               0 = as fast as the CPU allows (default 1)
  --seed N                     seed for generated text and fault injection (default 1)
  --kv-blocks N                KV cache blocks (default ${DEFAULT_OPTIONS.kvBlocks})
  --block-size N               tokens per KV block (default ${DEFAULT_OPTIONS.blockSize})
  --max-num-seqs N             max running requests (default ${DEFAULT_OPTIONS.maxNumSeqs})
  --max-num-batched-tokens N   token budget per step (default ${DEFAULT_OPTIONS.maxNumBatchedTokens})
  --max-model-len N            max prompt + output tokens (default ${DEFAULT_OPTIONS.maxModelLen}, capped by the KV cache)
  --default-max-tokens N       output tokens when max_tokens is absent (default ${DEFAULT_OPTIONS.defaultMaxTokens})
  --max-tokens-cap N           upper bound on any request's output tokens (default ${DEFAULT_OPTIONS.maxTokensCap})
  --fail-rate P                fraction of inference requests answered 503 (default 0)
  --kv-connector none|nixl     vLLM: honour kv_transfer_params like NixlConnector (default none)
  --disaggregation-mode M      SGLang: null, prefill or decode (bootstrap_room pairs; default null)
  --disaggregation-bootstrap-port N
                               SGLang prefill: bootstrap server port, 0 = ephemeral (default 8998)
  --kv-transfer-timeout-ms MS  P/D waits: held KV, bootstrap, KV arrival (default vLLM 480000, SGLang 300000)
  --kv-transfer-ms-per-1k MS   simulated KV transfer time per 1000 prompt tokens (default ${DEFAULT_OPTIONS.kvTransferMsPer1kTokens})
  --kv-events-config JSON      vLLM's KV-cache events: {"enable_kv_cache_events": true, "publisher": "zmq",
                               "endpoint": "tcp://*:5557", "replay_endpoint": "tcp://*:5558", "topic": "",
                               "buffer_steps": 10000, "hwm": 100000}; * binds --host (default off)
  --prefix-caching-hash-algo A sha256 or sha256_cbor: block hashes in KV events (default sha256); the first
                               block's parent derives from $PYTHONHASHSEED, else "${DEFAULT_NONE_HASH_SEED}"
  --prefill-tps N              prefill throughput, tokens/s (default ${DEFAULT_COST.prefillTokensPerSec})
  --decode-base-ms MS          decode step time at batch 1 (default ${DEFAULT_COST.decodeBaseMs})
  --decode-per-seq-ms MS       extra step time per sequence (default ${DEFAULT_COST.decodePerSeqMs})
  --kv-read-ms-per-1k MS       extra step time per 1000 context tokens (default ${DEFAULT_COST.kvReadMsPer1kTokens})
  --lora-overhead F            relative slowdown of batches using an adapter (default ${DEFAULT_COST.loraBatchOverhead})
  -h, --help                   show this help`;

const NUMERIC_FLAGS = {
  'max-loras': 'maxLoras',
  speed: 'speed',
  'time-scale': 'timeScale',
  seed: 'seed',
  'kv-blocks': 'kvBlocks',
  'block-size': 'blockSize',
  'max-num-seqs': 'maxNumSeqs',
  'max-num-batched-tokens': 'maxNumBatchedTokens',
  'max-model-len': 'maxModelLen',
  'default-max-tokens': 'defaultMaxTokens',
  'max-tokens-cap': 'maxTokensCap',
  'fail-rate': 'failRate',
  'disaggregation-bootstrap-port': 'disaggregationBootstrapPort',
  'kv-transfer-timeout-ms': 'kvTransferTimeoutMs',
  'kv-transfer-ms-per-1k': 'kvTransferMsPer1kTokens',
} as const;

const COST_FLAGS = {
  'prefill-tps': 'prefillTokensPerSec',
  'decode-base-ms': 'decodeBaseMs',
  'decode-per-seq-ms': 'decodePerSeqMs',
  'kv-read-ms-per-1k': 'kvReadMsPer1kTokens',
  'lora-load-ms': 'loraLoadMs',
  'lora-overhead': 'loraBatchOverhead',
} as const;

function toNumber(flag: string, raw: string): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw new RangeError(`--${flag} needs a number, got ${JSON.stringify(raw)}`);
  return v;
}

/** Parses CLI arguments (without node and script). Throws on unknown flags or malformed values. */
export function parseCliArgs(argv: readonly string[]): CliOptions {
  const stringFlags = [
    'host', 'port', 'model', 'engine', 'lora', 'kv-connector', 'disaggregation-mode', 'kv-events-config',
    'prefix-caching-hash-algo',
    ...Object.keys(NUMERIC_FLAGS), ...Object.keys(COST_FLAGS),
  ];
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    allowPositionals: false,
    options: {
      help: { type: 'boolean', short: 'h' },
      ...Object.fromEntries(stringFlags.map((f) => [f, { type: 'string' as const }])),
    },
  });
  const v = values as Record<string, string | boolean | undefined>;
  const str = (k: string): string | undefined => (typeof v[k] === 'string' ? (v[k] as string) : undefined);
  const sim: SimOptionsInput = {};
  const cost: Partial<CostParams> = {};
  const model = str('model');
  if (model !== undefined) sim.model = model;
  const engine = str('engine');
  if (engine !== undefined) {
    if (engine !== 'vllm' && engine !== 'sglang') throw new RangeError('--engine must be vllm or sglang');
    sim.engine = engine;
  }
  const kvConnector = str('kv-connector');
  if (kvConnector !== undefined) {
    if (kvConnector !== 'none' && kvConnector !== 'nixl') throw new RangeError('--kv-connector must be none or nixl');
    sim.kvConnector = kvConnector;
  }
  const mode = str('disaggregation-mode');
  if (mode !== undefined) {
    if (mode !== 'null' && mode !== 'prefill' && mode !== 'decode') {
      throw new RangeError('--disaggregation-mode must be null, prefill or decode');
    }
    sim.disaggregationMode = mode;
  }
  const kvEvents = str('kv-events-config');
  if (kvEvents !== undefined) sim.kvEvents = parseKvEventsConfig(kvEvents);
  const algo = str('prefix-caching-hash-algo');
  if (algo !== undefined) {
    if (!(SUPPORTED_HASH_ALGOS as readonly string[]).includes(algo)) {
      throw new RangeError(`--prefix-caching-hash-algo must be one of ${SUPPORTED_HASH_ALGOS.join(', ')}`);
    }
    sim.prefixCachingHashAlgo = algo as VllmHashAlgo;
  }
  if (process.env.PYTHONHASHSEED !== undefined) sim.hashSeed = process.env.PYTHONHASHSEED;
  const lora = str('lora');
  if (lora !== undefined) sim.loras = lora.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  for (const [flag, key] of Object.entries(NUMERIC_FLAGS)) {
    const raw = str(flag);
    if (raw !== undefined) sim[key] = toNumber(flag, raw);
  }
  for (const [flag, key] of Object.entries(COST_FLAGS)) {
    const raw = str(flag);
    if (raw !== undefined) cost[key] = toNumber(flag, raw);
  }
  if (Object.keys(cost).length > 0) sim.cost = cost;
  const portRaw = str('port');
  const port = portRaw === undefined ? 8000 : toNumber('port', portRaw);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError('--port must be 0..65535');
  return { sim, host: str('host') ?? '127.0.0.1', port, help: v.help === true };
}
