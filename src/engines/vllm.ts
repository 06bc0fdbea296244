// vLLM (V0 and V1 engines). Names checked against vLLM's Prometheus stat logger: current names first, then the
// pre-0.9/0.11 ones. Every series carries `model_name` (and `engine` on V1 with data parallelism): counts are summed
// over label sets, ratios averaged.
import type { EngineMetrics } from '../datastore/endpoint.js';
import type { Families } from '../metrics-fetcher/prom-parser.js';
import {
  clamp01,
  firstFamily,
  histogramTotals,
  increaseRatio,
  intervalMean,
  labelInt,
  meanOf,
  ratePerSecond,
  sumOf,
} from './series.js';
import type { EngineAdapter, Scrape } from './types.js';

const RUNNING = ['vllm:num_requests_running'];
const WAITING = ['vllm:num_requests_waiting'];
const KV_USAGE = ['vllm:kv_cache_usage_perc', 'vllm:gpu_cache_usage_perc'];
const TTFT = ['vllm:time_to_first_token_seconds'];
const ITL = ['vllm:inter_token_latency_seconds', 'vllm:time_per_output_token_seconds'];
const GENERATION_TOKENS = ['vllm:generation_tokens'];
const PREFIX_HITS = ['vllm:prefix_cache_hits', 'vllm:gpu_prefix_cache_hits'];
const PREFIX_QUERIES = ['vllm:prefix_cache_queries', 'vllm:gpu_prefix_cache_queries'];
/** V0 only exposed a ready-made hit-rate gauge. */
const PREFIX_HIT_RATE_GAUGE = ['vllm:gpu_prefix_cache_hit_rate'];
const LORA_INFO = ['vllm:lora_requests_info'];
const CACHE_CONFIG = ['vllm:cache_config_info'];

export interface LoraState {
  runningLoras: string[];
  waitingLoras: string[];
  maxLoras?: number;
}

/**
 * `vllm:lora_requests_info` is a gauge set to the current time under the label set of the moment; old label sets
 * linger, so the sample with the largest value is the current one.
 */
export function readLoraState(families: Families): LoraState {
  const family = firstFamily(families, LORA_INFO);
  let newest: { value: number; labels: Record<string, string> } | undefined;
  for (const s of family?.samples ?? []) {
    if (Number.isNaN(s.value)) continue;
    if (!newest || s.value > newest.value) newest = s;
  }
  if (!newest) return { runningLoras: [], waitingLoras: [] };
  const state: LoraState = {
    runningLoras: splitList(newest.labels.running_lora_adapters),
    waitingLoras: splitList(newest.labels.waiting_lora_adapters),
  };
  const max = Number(newest.labels.max_lora);
  if (newest.labels.max_lora !== undefined && Number.isInteger(max) && max >= 0) state.maxLoras = max;
  return state;
}

function splitList(value: string | undefined): string[] {
  if (!value) return [];
  return value
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

function toMetrics(current: Scrape, previous?: Scrape): EngineMetrics | undefined {
  const cur = current.families;
  const running = sumOf(cur, RUNNING);
  const waiting = sumOf(cur, WAITING);
  if (running === undefined && waiting === undefined) return undefined;

  const metrics: EngineMetrics = {
    running: running ?? 0,
    waiting: waiting ?? 0,
    kvCacheUsage: clamp01(meanOf(cur, KV_USAGE) ?? 0),
    ...readLoraState(cur),
  };
  const blockSize = labelInt(cur, CACHE_CONFIG, 'block_size');
  if (blockSize !== undefined) metrics.blockSize = blockSize;
  const numGpuBlocks = labelInt(cur, CACHE_CONFIG, 'num_gpu_blocks');
  if (numGpuBlocks !== undefined) metrics.numGpuBlocks = numGpuBlocks;

  const hasPrefixCounters = firstFamily(cur, PREFIX_QUERIES) !== undefined;
  if (!hasPrefixCounters) {
    const gauge = meanOf(cur, PREFIX_HIT_RATE_GAUGE);
    if (gauge !== undefined) metrics.prefixCacheHitRate = clamp01(gauge);
  }
  if (!previous) return metrics;
  const prev = previous.families;

  const ttft = intervalMean(histogramTotals(cur, TTFT), histogramTotals(prev, TTFT));
  if (ttft !== undefined) metrics.ttftSeconds = ttft;
  const tpot = intervalMean(histogramTotals(cur, ITL), histogramTotals(prev, ITL));
  if (tpot !== undefined) metrics.tpotSeconds = tpot;
  const tokensPerSecond = ratePerSecond(
    sumOf(cur, GENERATION_TOKENS),
    sumOf(prev, GENERATION_TOKENS),
    current.atMs - previous.atMs,
  );
  if (tokensPerSecond !== undefined) metrics.generationTokensPerSecond = tokensPerSecond;
  if (hasPrefixCounters) {
    const hitRate = increaseRatio(
      [sumOf(cur, PREFIX_HITS), sumOf(prev, PREFIX_HITS)],
      [sumOf(cur, PREFIX_QUERIES), sumOf(prev, PREFIX_QUERIES)],
    );
    if (hitRate !== undefined) metrics.prefixCacheHitRate = hitRate;
  }
  return metrics;
}

export const vllmAdapter: EngineAdapter = {
  engine: 'vLLM',
  familyNames: [
    ...RUNNING,
    ...WAITING,
    ...KV_USAGE,
    ...TTFT,
    ...ITL,
    ...GENERATION_TOKENS,
    ...PREFIX_HITS,
    ...PREFIX_QUERIES,
    ...PREFIX_HIT_RATE_GAUGE,
    ...LORA_INFO,
    ...CACHE_CONFIG,
  ],
  toMetrics,
};
