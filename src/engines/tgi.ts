// Hugging Face Text Generation Inference. Names checked against TGI's router metrics (metrics-rs Prometheus
// exporter: no `_total` suffix on counters, histograms with explicit buckets, no labels except `method`).
//
// TGI has no KV-cache gauge and no TTFT histogram, so two values are derived:
// - kvCacheUsage = tgi_batch_current_max_tokens / maxBatchTotalTokens (the launcher's --max-batch-total-tokens,
//   which TGI does not export: pass it to createTgiAdapter). Without it kvCacheUsage is 0, i.e. unknown, and
//   KV-based scoring cannot tell TGI pods apart; running/waiting still can.
// - ttftSeconds = mean queue time (tgi_request_queue_duration) + mean prefill batch time
//   (tgi_batch_inference_duration{method="prefill"}) over the interval: a request's first token is produced by the
//   prefill step that follows its wait in the queue.
// tpotSeconds is the interval mean of tgi_request_mean_time_per_token_duration (one observation per finished
// request), and generationTokensPerSecond the increase of tgi_request_generated_tokens_sum per second.
import type { EngineMetrics } from '../datastore/endpoint.js';
import { clamp01, counterIncrease, histogramTotals, intervalMean, sumOf } from './series.js';
import type { EngineAdapter, Scrape } from './types.js';

const RUNNING = ['tgi_batch_current_size'];
const WAITING = ['tgi_queue_size'];
const BATCH_MAX_TOKENS = ['tgi_batch_current_max_tokens'];
const QUEUE_DURATION = ['tgi_request_queue_duration'];
const BATCH_INFERENCE = ['tgi_batch_inference_duration'];
const TIME_PER_TOKEN = ['tgi_request_mean_time_per_token_duration'];
const GENERATED_TOKENS = ['tgi_request_generated_tokens'];
const PREFILL = { method: 'prefill' };

export interface TgiAdapterOptions {
  /** The pod's --max-batch-total-tokens; enables a KV-usage estimate. */
  maxBatchTotalTokens?: number;
}

export function createTgiAdapter(options: TgiAdapterOptions = {}): EngineAdapter {
  const maxTokens = options.maxBatchTotalTokens;
  if (maxTokens !== undefined && !(Number.isFinite(maxTokens) && maxTokens > 0)) {
    throw new Error(`maxBatchTotalTokens must be a positive number, got ${maxTokens}`);
  }

  function toMetrics(current: Scrape, previous?: Scrape): EngineMetrics | undefined {
    const cur = current.families;
    const running = sumOf(cur, RUNNING);
    const waiting = sumOf(cur, WAITING);
    if (running === undefined && waiting === undefined) return undefined;

    const batchTokens = sumOf(cur, BATCH_MAX_TOKENS);
    const metrics: EngineMetrics = {
      running: running ?? 0,
      waiting: waiting ?? 0,
      kvCacheUsage: maxTokens !== undefined && batchTokens !== undefined ? clamp01(batchTokens / maxTokens) : 0,
      runningLoras: [],
      waitingLoras: [],
    };
    if (!previous) return metrics;
    const prev = previous.families;

    const queue = intervalMean(histogramTotals(cur, QUEUE_DURATION), histogramTotals(prev, QUEUE_DURATION));
    if (queue !== undefined) {
      const prefill = intervalMean(
        histogramTotals(cur, BATCH_INFERENCE, PREFILL),
        histogramTotals(prev, BATCH_INFERENCE, PREFILL),
      );
      metrics.ttftSeconds = queue + (prefill ?? 0);
    }
    const tpot = intervalMean(histogramTotals(cur, TIME_PER_TOKEN), histogramTotals(prev, TIME_PER_TOKEN));
    if (tpot !== undefined) metrics.tpotSeconds = tpot;
    const elapsedMs = current.atMs - previous.atMs;
    const generated = counterIncrease(
      histogramTotals(cur, GENERATED_TOKENS)?.sum,
      histogramTotals(prev, GENERATED_TOKENS)?.sum,
    );
    if (generated !== undefined && elapsedMs > 0) metrics.generationTokensPerSecond = generated / (elapsedMs / 1000);
    return metrics;
  }

  return {
    engine: 'TGI',
    familyNames: [
      ...RUNNING,
      ...WAITING,
      ...BATCH_MAX_TOKENS,
      ...QUEUE_DURATION,
      ...BATCH_INFERENCE,
      ...TIME_PER_TOKEN,
      ...GENERATED_TOKENS,
    ],
    toMetrics,
  };
}

export const tgiAdapter: EngineAdapter = createTgiAdapter();
