import type { EngineSnapshot } from './engine.js';
import { EngineMetrics } from './metrics.js';
import type { SimOptions } from './options.js';
import { PromText, type Labels } from './prom-text.js';

// vLLM (V1 engine) metric names, types, labels and histogram buckets. Per-engine series carry model_name and
// engine="0"; the info gauges (cache_config_info, lora_requests_info) carry only their own labels, as in vLLM.
// lora_requests_info is served only when adapters are configured; each step stamps the current
// (running, waiting) adapter sets with the current Unix time, so the sample with the newest value is current.

const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
  640.0, 2560.0,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const REQUEST_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0,
  1920.0, 7680.0,
];
// Distinct (running, waiting) label sets kept for lora_requests_info.
const MAX_LORA_SERIES = 64;

export class VllmMetrics extends EngineMetrics {
  private readonly labels: Labels;
  private readonly loraSeries = new Map<string, { running: string; waiting: string; at: number }>();
  private lastStamp = 0;

  constructor(private readonly options: SimOptions) {
    super({ ttft: TTFT_BUCKETS, itl: ITL_BUCKETS, e2e: REQUEST_BUCKETS, queue: REQUEST_BUCKETS });
    this.labels = { model_name: options.model, engine: '0' };
  }

  override stepDone(generatedTokens: number, snapshot: EngineSnapshot): void {
    super.stepDone(generatedTokens, snapshot);
    if (this.options.loras.length === 0) return;
    const running = snapshot.runningLoras.join(',');
    const waiting = snapshot.waitingLoras.join(',');
    const key = `${running}|${waiting}`;
    // Strictly increasing, so the newest state always has the largest value even for steps in the same millisecond.
    const at = Math.max((performance.timeOrigin + performance.now()) / 1000, this.lastStamp + 1e-6);
    this.lastStamp = at;
    this.loraSeries.delete(key);
    this.loraSeries.set(key, { running, waiting, at });
    if (this.loraSeries.size > MAX_LORA_SERIES) this.loraSeries.delete(this.loraSeries.keys().next().value!);
  }

  render(s: EngineSnapshot): string {
    const l = this.labels;
    const t = new PromText();
    t.family('vllm:num_requests_running', 'gauge', 'Number of requests in model execution batches.');
    t.sample('vllm:num_requests_running', l, s.running);
    t.family('vllm:num_requests_waiting', 'gauge', 'Number of requests waiting to be processed.');
    t.sample('vllm:num_requests_waiting', l, s.waiting);
    t.family('vllm:kv_cache_usage_perc', 'gauge', 'KV-cache usage. 1 means 100 percent usage.');
    t.sample('vllm:kv_cache_usage_perc', l, s.kvUsage);
    t.family('vllm:prefix_cache_queries_total', 'counter', 'Prefix cache queries, in queried tokens.');
    t.sample('vllm:prefix_cache_queries_total', l, this.prefixQueried);
    t.family('vllm:prefix_cache_hits_total', 'counter', 'Prefix cache hits, in cached tokens.');
    t.sample('vllm:prefix_cache_hits_total', l, this.prefixHits);
    if (this.options.kvConnector !== 'none') {
      // Served only with a KV connector, as in vLLM: here, the prompt KV a P/D prefill engine sent.
      t.family('vllm:external_prefix_cache_queries_total', 'counter', 'External prefix cache queries from KV connector cross-instance cache sharing, in terms of number of queried tokens.');
      t.sample('vllm:external_prefix_cache_queries_total', l, this.externalQueried);
      t.family('vllm:external_prefix_cache_hits_total', 'counter', 'External prefix cache hits from KV connector cross-instance cache sharing, in terms of number of cached tokens.');
      t.sample('vllm:external_prefix_cache_hits_total', l, this.externalHits);
    }
    t.family('vllm:num_preemptions_total', 'counter', 'Cumulative number of preemptions.');
    t.sample('vllm:num_preemptions_total', l, this.numPreemptions);
    t.family('vllm:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.');
    t.sample('vllm:prompt_tokens_total', l, this.promptTokens);
    t.family('vllm:generation_tokens_total', 'counter', 'Number of generation tokens processed.');
    t.sample('vllm:generation_tokens_total', l, this.generationTokens);
    t.family('vllm:request_success_total', 'counter', 'Count of successfully processed requests.');
    t.sample('vllm:request_success_total', { ...l, finished_reason: 'length' }, this.requestsFinished);
    t.histogram('vllm:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', l, this.ttft);
    t.histogram('vllm:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', l, this.itl);
    // The older name observes the same per-token intervals.
    t.histogram('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', l, this.itl);
    t.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', l, this.e2e);
    t.histogram('vllm:request_queue_time_seconds', 'Histogram of time spent waiting in seconds.', l, this.queueTime);
    if (this.options.loras.length > 0) {
      t.family('vllm:lora_requests_info', 'gauge', 'Running stats on lora requests.');
      for (const series of this.loraSeries.values()) {
        t.sample(
          'vllm:lora_requests_info',
          { running_lora_adapters: series.running, max_lora: String(s.maxLoras), waiting_lora_adapters: series.waiting },
          series.at,
        );
      }
    }
    t.family('vllm:cache_config_info', 'gauge', 'Information of the LLMEngine CacheConfig');
    t.sample(
      'vllm:cache_config_info',
      {
        block_size: String(s.blockSize),
        cache_dtype: 'auto',
        enable_prefix_caching: 'True',
        engine: '0',
        gpu_memory_utilization: '0.9',
        num_cpu_blocks: 'None',
        num_gpu_blocks: String(s.numBlocks),
      },
      1,
    );
    return t.toString();
  }
}
