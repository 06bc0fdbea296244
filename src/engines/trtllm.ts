// TensorRT-LLM, both as trtllm-serve (`trtllm_*` gauges) and behind Triton's TensorRT-LLM backend
// (`nv_trt_llm_*` families distinguished by a type label). Names follow the Gateway API Inference Extension's
// built-in engine mappings; the TTFT/TPOT histograms are read when trtllm-serve exposes them.
import type { EngineMetrics } from '../datastore/endpoint.js';
import type { Families, Labels } from '../metrics-fetcher/prom-parser.js';
import { clamp01, histogramTotals, intervalMean, meanOf, sumOf } from './series.js';
import type { EngineAdapter, Scrape } from './types.js';

const SERVE_RUNNING = ['trtllm_num_requests_running'];
const SERVE_WAITING = ['trtllm_num_requests_waiting'];
const SERVE_KV = ['trtllm_kv_cache_utilization'];
const SERVE_BLOCK_SIZE = ['trtllm_kv_cache_tokens_per_block'];
const SERVE_NUM_BLOCKS = ['trtllm_kv_cache_max_blocks'];
const TRITON_REQUESTS = ['nv_trt_llm_request_metrics'];
const TRITON_KV = ['nv_trt_llm_kv_cache_block_metrics'];
const TTFT = ['trtllm_time_to_first_token_seconds'];
const TPOT = ['trtllm_time_per_output_token_seconds'];

/** trtllm-serve's name when present, else the Triton family restricted to one type label. */
function either(
  families: Families,
  read: typeof sumOf,
  serveNames: readonly string[],
  tritonNames: readonly string[],
  tritonMatch: Labels,
): number | undefined {
  return read(families, serveNames) ?? read(families, tritonNames, tritonMatch);
}

function positiveInt(value: number | undefined): number | undefined {
  return value !== undefined && Number.isInteger(value) && value > 0 ? value : undefined;
}

function toMetrics(current: Scrape, previous?: Scrape): EngineMetrics | undefined {
  const cur = current.families;
  const running = either(cur, sumOf, SERVE_RUNNING, TRITON_REQUESTS, { request_type: 'scheduled' });
  const waiting = either(cur, sumOf, SERVE_WAITING, TRITON_REQUESTS, { request_type: 'waiting' });
  if (running === undefined && waiting === undefined) return undefined;

  const metrics: EngineMetrics = {
    running: running ?? 0,
    waiting: waiting ?? 0,
    kvCacheUsage: clamp01(either(cur, meanOf, SERVE_KV, TRITON_KV, { kv_cache_block_type: 'fraction' }) ?? 0),
    runningLoras: [],
    waitingLoras: [],
  };
  const blockSize = positiveInt(
    either(cur, meanOf, SERVE_BLOCK_SIZE, TRITON_KV, { kv_cache_block_type: 'tokens_per' }),
  );
  if (blockSize !== undefined) metrics.blockSize = blockSize;
  const numBlocks = positiveInt(either(cur, sumOf, SERVE_NUM_BLOCKS, TRITON_KV, { kv_cache_block_type: 'max' }));
  if (numBlocks !== undefined) metrics.numGpuBlocks = numBlocks;
  if (!previous) return metrics;

  const prev = previous.families;
  const ttft = intervalMean(histogramTotals(cur, TTFT), histogramTotals(prev, TTFT));
  if (ttft !== undefined) metrics.ttftSeconds = ttft;
  const tpot = intervalMean(histogramTotals(cur, TPOT), histogramTotals(prev, TPOT));
  if (tpot !== undefined) metrics.tpotSeconds = tpot;
  return metrics;
}

export const trtllmAdapter: EngineAdapter = {
  engine: 'TRTLLM',
  familyNames: [
    ...SERVE_RUNNING,
    ...SERVE_WAITING,
    ...SERVE_KV,
    ...SERVE_BLOCK_SIZE,
    ...SERVE_NUM_BLOCKS,
    ...TRITON_REQUESTS,
    ...TRITON_KV,
    ...TTFT,
    ...TPOT,
  ],
  toMetrics,
};
