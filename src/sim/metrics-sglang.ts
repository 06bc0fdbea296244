import type { EngineSnapshot } from './engine.js';
import { EngineMetrics } from './metrics.js';
import type { SimOptions } from './options.js';
import { PromText, type Labels } from './prom-text.js';

// SGLang metric names, types and default histogram buckets, every series labelled with model_name.
// token_usage and num_used_tokens count KV held by requests (evictable cache is free, as in SGLang);
// gen_throughput and cache_hit_rate are recent values, like SGLang's periodically logged ones.

const TTFT_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const ITL_BUCKETS = [
  0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1,
  2, 4, 6, 8,
];
const E2E_BUCKETS = [
  0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 600, 1200, 1800, 2400,
];

export class SglangMetrics extends EngineMetrics {
  private readonly labels: Labels;

  constructor(options: SimOptions) {
    super({ ttft: TTFT_BUCKETS, itl: ITL_BUCKETS, e2e: E2E_BUCKETS, queue: E2E_BUCKETS });
    this.labels = { model_name: options.model };
  }

  render(s: EngineSnapshot): string {
    const l = this.labels;
    const capacity = s.numBlocks * s.blockSize;
    const t = new PromText();
    t.family('sglang:num_running_reqs', 'gauge', 'The number of running requests.');
    t.sample('sglang:num_running_reqs', l, s.running);
    t.family('sglang:num_queue_reqs', 'gauge', 'The number of requests in the waiting queue.');
    t.sample('sglang:num_queue_reqs', l, s.waiting);
    t.family('sglang:num_used_tokens', 'gauge', 'The number of used tokens.');
    t.sample('sglang:num_used_tokens', l, (s.numBlocks - s.freeBlocks) * s.blockSize);
    t.family('sglang:max_total_num_tokens', 'gauge', 'Maximum total number of tokens in the KV cache pool.');
    t.sample('sglang:max_total_num_tokens', l, capacity);
    t.family('sglang:token_usage', 'gauge', 'The token usage.');
    t.sample('sglang:token_usage', l, s.kvUsage);
    t.family('sglang:gen_throughput', 'gauge', 'The generation throughput (token/s).');
    t.sample('sglang:gen_throughput', l, this.recentThroughput());
    t.family('sglang:cache_hit_rate', 'gauge', 'The prefix cache hit rate.');
    t.sample('sglang:cache_hit_rate', l, this.recentHitRate());
    t.family('sglang:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.');
    t.sample('sglang:prompt_tokens_total', l, this.promptTokens);
    t.family('sglang:generation_tokens_total', 'counter', 'Number of generation tokens processed.');
    t.sample('sglang:generation_tokens_total', l, this.generationTokens);
    t.family('sglang:cached_tokens_total', 'counter', 'Number of cached prompt tokens.');
    t.sample('sglang:cached_tokens_total', l, this.cachedPromptTokens);
    t.family('sglang:num_requests_total', 'counter', 'Number of requests processed.');
    t.sample('sglang:num_requests_total', l, this.requestsFinished);
    t.histogram('sglang:time_to_first_token_seconds', 'Histogram of time to first token in seconds.', l, this.ttft);
    t.histogram('sglang:inter_token_latency_seconds', 'Histogram of inter-token latency in seconds.', l, this.itl);
    t.histogram('sglang:e2e_request_latency_seconds', 'Histogram of End-to-end request latency in seconds', l, this.e2e);
    return t.toString();
  }
}
