// SGLang. Names checked against SGLang's metrics collector: scheduler gauges (running, queue, token usage,
// generation throughput, cache hit rate) and tokenizer-side TTFT / inter-token-latency histograms. With data
// parallelism each rank reports its own series: counts are summed, ratios averaged.
import type { EngineMetrics } from '../datastore/endpoint.js';
import {
  clamp01,
  histogramTotals,
  intervalMean,
  labelInt,
  meanOf,
  ratePerSecond,
  sumOf,
} from './series.js';
import type { EngineAdapter, Scrape } from './types.js';

const RUNNING = ['sglang:num_running_reqs'];
const WAITING = ['sglang:num_queue_reqs'];
const TOKEN_USAGE = ['sglang:token_usage'];
const TTFT = ['sglang:time_to_first_token_seconds'];
const ITL = ['sglang:inter_token_latency_seconds', 'sglang:time_per_output_token_seconds'];
/** Live decode throughput gauge (tokens/s); the finished-request counter is the fallback. */
const GEN_THROUGHPUT = ['sglang:gen_throughput'];
const GENERATION_TOKENS = ['sglang:generation_tokens'];
const CACHE_HIT_RATE = ['sglang:cache_hit_rate'];
/** Newer SGLang: an info gauge with the KV page geometry. */
const CACHE_CONFIG = ['sglang:cache_config_info'];

function toMetrics(current: Scrape, previous?: Scrape): EngineMetrics | undefined {
  const cur = current.families;
  const running = sumOf(cur, RUNNING);
  const waiting = sumOf(cur, WAITING);
  if (running === undefined && waiting === undefined) return undefined;

  const metrics: EngineMetrics = {
    running: running ?? 0,
    waiting: waiting ?? 0,
    kvCacheUsage: clamp01(meanOf(cur, TOKEN_USAGE) ?? 0),
    runningLoras: [],
    waitingLoras: [],
  };
  const hitRate = meanOf(cur, CACHE_HIT_RATE);
  if (hitRate !== undefined) metrics.prefixCacheHitRate = clamp01(hitRate);
  const blockSize = labelInt(cur, CACHE_CONFIG, 'page_size');
  if (blockSize !== undefined) metrics.blockSize = blockSize;
  const numPages = labelInt(cur, CACHE_CONFIG, 'num_pages');
  if (numPages !== undefined) metrics.numGpuBlocks = numPages;
  const throughput = sumOf(cur, GEN_THROUGHPUT);
  if (throughput !== undefined) metrics.generationTokensPerSecond = throughput;
  if (!previous) return metrics;
  const prev = previous.families;

  const ttft = intervalMean(histogramTotals(cur, TTFT), histogramTotals(prev, TTFT));
  if (ttft !== undefined) metrics.ttftSeconds = ttft;
  // SGLang adds a decode interval to `_sum` and its count of new tokens to the buckets: Δsum/Δcount is per token.
  const tpot = intervalMean(histogramTotals(cur, ITL), histogramTotals(prev, ITL));
  if (tpot !== undefined) metrics.tpotSeconds = tpot;
  if (throughput === undefined) {
    const rate = ratePerSecond(
      sumOf(cur, GENERATION_TOKENS),
      sumOf(prev, GENERATION_TOKENS),
      current.atMs - previous.atMs,
    );
    if (rate !== undefined) metrics.generationTokensPerSecond = rate;
  }
  return metrics;
}

export const sglangAdapter: EngineAdapter = {
  engine: 'SGLang',
  familyNames: [
    ...RUNNING,
    ...WAITING,
    ...TOKEN_USAGE,
    ...TTFT,
    ...ITL,
    ...GEN_THROUGHPUT,
    ...GENERATION_TOKENS,
    ...CACHE_HIT_RATE,
    ...CACHE_CONFIG,
  ],
  toMetrics,
};
