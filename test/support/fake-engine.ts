// Fake inference-engine pods for integration tests: /metrics in the real exposition format of vLLM (V1 and V0),
// SGLang or TGI, generated from a mutable state, plus a minimal OpenAI-compatible API. Bind each fake to its own
// 127.0.0.x address so that tests of different suites never clash.
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type FakeEngineKind = 'vllm' | 'vllm-old' | 'sglang' | 'tgi';

/** Cumulative histogram totals, as the engine would report them. */
export interface Totals {
  sum: number;
  count: number;
}

export interface FakeEngineState {
  /** Served model name: the `model_name` label and what /v1/models lists. */
  model: string;
  running: number;
  waiting: number;
  /** 0..1. TGI has no KV gauge: it is rendered as tgi_batch_current_max_tokens = kvCacheUsage × maxBatchTotalTokens. */
  kvCacheUsage: number;
  /** Cumulative time-to-first-token seconds / observations. */
  ttft: Totals;
  /** Cumulative inter-token latency seconds / observations. */
  tpot: Totals;
  promptTokens: number;
  generationTokens: number;
  /** Cumulative prefix-cache queries and hits, in tokens. */
  prefixCacheQueries: number;
  prefixCacheHits: number;
  /** vLLM LoRA state; every change adds a newer `vllm:lora_requests_info` sample and old ones linger, as in vLLM. */
  loras?: { running: string[]; waiting: string[]; max: number };
  blockSize: number;
  numGpuBlocks: number;
  /** SGLang's live generation-throughput gauge, tokens/s. */
  genThroughput: number;
  /** TGI --max-batch-total-tokens, used only to render KV usage for TGI. */
  maxBatchTotalTokens: number;

  /** Delay before /metrics answers, ms. */
  metricsDelayMs: number;
  /** Status of /metrics (200 normally). */
  metricsStatus: number;
  /** /metrics accepts the request and never answers. */
  hangMetrics: boolean;
  /** Delay before a completion starts answering, and between SSE chunks, ms. */
  completionDelayMs: number;
  /** Status for completions; non-2xx answers an OpenAI-style error. */
  completionStatus: number;
  /** Tokens generated per completion (capped by the request's max_tokens). */
  completionTokens: number;
  /** SSE usage chunk: only when `stream_options.include_usage` is set (as vLLM does), always, or never. */
  streamUsage: 'requested' | 'always' | 'never';
  /** Completions in progress count as running, and finished ones update the token counters and TTFT/TPOT. */
  trackLoad: boolean;
}

export interface FakeEngineOptions {
  /** 127.0.0.x; use a distinct one per test file. */
  host: string;
  /** Default 0 (ephemeral). */
  port?: number;
  engine: FakeEngineKind;
  state?: Partial<FakeEngineState>;
}

export interface ReceivedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Parsed JSON body of an OpenAI request. */
  body: unknown;
}

export interface FakeEngine {
  /** `host:port`, as the router's endpoint address. */
  readonly address: string;
  /** `http://host:port`. */
  readonly url: string;
  /** `http://host:port/metrics`. */
  readonly metricsUrl: string;
  /** OpenAI requests received (POST /v1/chat/completions and /v1/completions, valid or not). */
  readonly served: number;
  /** /metrics requests received. */
  readonly scrapes: number;
  /** /metrics requests open right now. */
  readonly openScrapes: number;
  /** Highest number of /metrics requests that were open at the same time. */
  readonly maxConcurrentScrapes: number;
  readonly lastRequest: ReceivedRequest | undefined;
  readonly state: Readonly<FakeEngineState>;
  setState(partial: Partial<FakeEngineState>): void;
  close(): Promise<void>;
}

export function defaultFakeState(): FakeEngineState {
  return {
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    running: 0,
    waiting: 0,
    kvCacheUsage: 0,
    ttft: { sum: 0, count: 0 },
    tpot: { sum: 0, count: 0 },
    promptTokens: 0,
    generationTokens: 0,
    prefixCacheQueries: 0,
    prefixCacheHits: 0,
    blockSize: 16,
    numGpuBlocks: 8192,
    genThroughput: 0,
    maxBatchTotalTokens: 32768,
    metricsDelayMs: 0,
    metricsStatus: 200,
    hangMetrics: false,
    completionDelayMs: 0,
    completionStatus: 200,
    completionTokens: 8,
    streamUsage: 'requested',
    trackLoad: false,
  };
}

export async function startFakeEngine(options: FakeEngineOptions): Promise<FakeEngine> {
  const pod = new FakePod(options);
  await pod.listen(options.host, options.port ?? 0);
  return pod;
}

// ---------------------------------------------------------------------------------------------------------------
// Exposition rendering

/** LoRA info samples ever set on a pod: label sets with the (seconds) time they were current. */
export interface LoraHistoryEntry {
  running: string;
  waiting: string;
  max: number;
  setAt: number;
}

type LabelSet = Record<string, string>;

class Exposition {
  private readonly out: string[] = [];

  constructor(private readonly format: (n: number) => string) {}

  header(name: string, type: string, help?: string): void {
    if (help !== undefined) this.out.push(`# HELP ${name} ${help}`);
    this.out.push(`# TYPE ${name} ${type}`);
  }

  sample(name: string, labels: LabelSet, value: number): void {
    const keys = Object.keys(labels).sort();
    const body = keys.map((k) => `${k}="${escapeLabel(labels[k] ?? '')}"`).join(',');
    this.out.push(`${name}${body ? `{${body}}` : ''} ${this.format(value)}`);
  }

  gauge(name: string, help: string | undefined, labels: LabelSet, value: number): void {
    this.header(name, 'gauge', help);
    this.sample(name, labels, value);
  }

  /** prometheus_client style counter: `x_total` family plus a `x_created` gauge. */
  pyCounter(name: string, help: string, labels: LabelSet, value: number, createdAt: number): void {
    this.header(`${name}_total`, 'counter', help);
    this.sample(`${name}_total`, labels, value);
    this.header(`${name}_created`, 'gauge', help);
    this.sample(`${name}_created`, labels, createdAt);
  }

  /** All observations fall into the first bucket that holds their mean: enough for Δsum/Δcount consumers. */
  histogram(name: string, help: string | undefined, labels: LabelSet, bounds: readonly number[], totals: Totals): void {
    this.header(name, 'histogram', help);
    this.histogramSamples(name, labels, bounds, totals);
  }

  histogramSamples(name: string, labels: LabelSet, bounds: readonly number[], totals: Totals): void {
    const mean = totals.count > 0 ? totals.sum / totals.count : 0;
    for (const le of bounds) {
      this.sample(`${name}_bucket`, { ...labels, le: this.format(le) }, totals.count > 0 && le >= mean ? totals.count : 0);
    }
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, totals.count);
    this.sample(`${name}_sum`, labels, totals.sum);
    this.sample(`${name}_count`, labels, totals.count);
  }

  text(): string {
    return this.out.join('\n') + '\n';
  }
}

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** prometheus_client's floatToGoString: Python's repr (`3.0`, `1e-05`), switching to Go-style exponents from 1e7. */
function pyFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  const repr = pyRepr(n);
  const dot = repr.indexOf('.');
  if (n > 0 && dot > 6) {
    const mantissa = `${repr[0]}.${repr.slice(1, dot)}${repr.slice(dot + 1)}`.replace(/[0.]+$/, '');
    return `${mantissa}e+0${dot - 1}`;
  }
  return repr;
}

function pyRepr(n: number): string {
  if (n === 0) return '0.0';
  const exponent = Math.floor(Math.log10(Math.abs(n)));
  if (exponent < -4 || exponent >= 16) {
    return n.toExponential().replace(/e([+-])(\d)$/, 'e$10$2'); // Python pads the exponent to two digits
  }
  const plain = String(n);
  return plain.includes('.') ? plain : `${plain}.0`;
}

/** metrics-rs (TGI) prints Rust's f64 Display: `3`, `0.25`. */
function rustFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  return String(n);
}

const PY_PROCESS_PREAMBLE = (startedAt: number): string[] => [
  '# HELP python_gc_objects_collected_total Objects collected during gc',
  '# TYPE python_gc_objects_collected_total counter',
  'python_gc_objects_collected_total{generation="0"} 14183.0',
  'python_gc_objects_collected_total{generation="1"} 2213.0',
  'python_gc_objects_collected_total{generation="2"} 871.0',
  '# HELP python_info Python platform information',
  '# TYPE python_info gauge',
  'python_info{implementation="CPython",major="3",minor="12",patchlevel="9",version="3.12.9"} 1.0',
  '# HELP process_resident_memory_bytes Resident memory size in bytes.',
  '# TYPE process_resident_memory_bytes gauge',
  'process_resident_memory_bytes 4.123729920e+09',
  '# HELP process_start_time_seconds Start time of the process since unix epoch in seconds.',
  '# TYPE process_start_time_seconds gauge',
  `process_start_time_seconds ${pyFloat(startedAt)}`,
];

const TTFT_HELP = 'Histogram of time to first token in seconds.';
const ITL_HELP = 'Histogram of inter-token latency in seconds.';

// Bucket bounds as the engines define them.
const VLLM_TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0,
  640.0, 2560.0,
];
const VLLM_ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0,
];
const VLLM_E2E_BUCKETS = [
  0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0,
  7680.0,
];
const SGLANG_TTFT_BUCKETS = [0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400];
const SGLANG_ITL_BUCKETS = [
  0.002, 0.004, 0.006, 0.008, 0.01, 0.015, 0.02, 0.025, 0.03, 0.035, 0.04, 0.06, 0.08, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0,
  2.0, 4.0, 6.0, 8.0,
];
/** TGI: 35 geometric duration buckets from 0.0001 × 1.5. */
const TGI_DURATION_BUCKETS = (() => {
  const out: number[] = [];
  let v = 0.0001;
  for (let i = 0; i < 35; i++) {
    v *= 1.5;
    out.push(v);
  }
  return out;
})();

export interface RenderContext {
  state: FakeEngineState;
  /** Running count to report (state.running plus tracked in-flight completions). */
  running: number;
  loraHistory: readonly LoraHistoryEntry[];
  /** Process start, seconds since epoch (for `_created` samples). */
  startedAt: number;
}

/** Renders a full /metrics page of the given engine for a state. */
export function renderMetrics(engine: FakeEngineKind, ctx: RenderContext): string {
  switch (engine) {
    case 'vllm':
      return renderVllm(ctx);
    case 'vllm-old':
      return renderVllmOld(ctx);
    case 'sglang':
      return renderSglang(ctx);
    case 'tgi':
      return renderTgi(ctx);
  }
}

function renderLoraInfo(e: Exposition, history: readonly LoraHistoryEntry[]): void {
  if (history.length === 0) return;
  e.header('vllm:lora_requests_info', 'gauge', 'Running stats on lora requests.');
  for (const h of history) {
    e.sample(
      'vllm:lora_requests_info',
      { max_lora: String(h.max), running_lora_adapters: h.running, waiting_lora_adapters: h.waiting },
      h.setAt,
    );
  }
}

function renderVllm(ctx: RenderContext): string {
  const { state: s, startedAt } = ctx;
  const e = new Exposition(pyFloat);
  const l = { engine: '0', model_name: s.model };
  const lines = PY_PROCESS_PREAMBLE(startedAt);
  e.gauge('vllm:num_requests_running', 'Number of requests in model execution batches.', l, ctx.running);
  e.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', l, s.waiting);
  e.gauge('vllm:kv_cache_usage_perc', 'KV-cache usage. 1 means 100 percent usage.', l, s.kvCacheUsage);
  const queriesHelp = 'Prefix cache queries, in terms of number of queried tokens.';
  e.pyCounter('vllm:prefix_cache_queries', queriesHelp, l, s.prefixCacheQueries, startedAt);
  e.pyCounter('vllm:prefix_cache_hits', 'Prefix cache hits, in terms of number of cached tokens.', l, s.prefixCacheHits, startedAt);
  e.pyCounter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', l, 0, startedAt);
  e.pyCounter('vllm:prompt_tokens', 'Number of prefill tokens processed.', l, s.promptTokens, startedAt);
  e.pyCounter('vllm:generation_tokens', 'Number of generation tokens processed.', l, s.generationTokens, startedAt);
  e.header('vllm:request_success_total', 'counter', 'Count of successfully processed requests.');
  for (const reason of ['stop', 'length', 'abort']) {
    e.sample('vllm:request_success_total', { ...l, finished_reason: reason }, reason === 'length' ? s.ttft.count : 0);
  }
  e.histogram('vllm:time_to_first_token_seconds', TTFT_HELP, l, VLLM_TTFT_BUCKETS, s.ttft);
  e.histogram('vllm:inter_token_latency_seconds', ITL_HELP, l, VLLM_ITL_BUCKETS, s.tpot);
  e.histogram('vllm:e2e_request_latency_seconds', 'Histogram of e2e request latency in seconds.', l, VLLM_E2E_BUCKETS, {
    sum: s.ttft.sum + s.tpot.sum,
    count: s.ttft.count,
  });
  renderLoraInfo(e, ctx.loraHistory);
  e.gauge('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', {
    block_size: String(s.blockSize),
    cache_dtype: 'auto',
    calculate_kv_scales: 'False',
    cpu_offload_gb: '0',
    enable_prefix_caching: 'True',
    engine: '0',
    gpu_memory_utilization: '0.9',
    is_attention_free: 'False',
    num_cpu_blocks: 'None',
    num_gpu_blocks: String(s.numGpuBlocks),
    num_gpu_blocks_override: 'None',
    prefix_caching_hash_algo: 'sha256',
    sliding_window: 'None',
    swap_space: '4',
    swap_space_bytes: '4294967296',
  }, 1);
  return lines.join('\n') + '\n' + e.text();
}

function renderVllmOld(ctx: RenderContext): string {
  const { state: s, startedAt } = ctx;
  const e = new Exposition(pyFloat);
  const l = { model_name: s.model };
  const lines = PY_PROCESS_PREAMBLE(startedAt);
  e.gauge('vllm:cache_config_info', 'Information of the LLMEngine CacheConfig', {
    block_size: String(s.blockSize),
    cache_dtype: 'auto',
    cpu_offload_gb: '0',
    enable_prefix_caching: 'True',
    gpu_memory_utilization: '0.9',
    is_attention_free: 'False',
    num_cpu_blocks: '2048',
    num_gpu_blocks: String(s.numGpuBlocks),
    num_gpu_blocks_override: 'None',
    sliding_window: 'None',
    swap_space_bytes: '4294967296',
  }, 1);
  e.gauge('vllm:num_requests_running', 'Number of requests currently running on GPU.', l, ctx.running);
  e.gauge('vllm:num_requests_swapped', 'Number of requests swapped to CPU.', l, 0);
  e.gauge('vllm:num_requests_waiting', 'Number of requests waiting to be processed.', l, s.waiting);
  renderLoraInfo(e, ctx.loraHistory);
  e.gauge('vllm:gpu_cache_usage_perc', 'GPU KV-cache usage. 1 means 100 percent usage.', l, s.kvCacheUsage);
  e.gauge('vllm:cpu_cache_usage_perc', 'CPU KV-cache usage. 1 means 100 percent usage.', l, 0);
  e.gauge('vllm:cpu_prefix_cache_hit_rate', 'CPU prefix cache block hit rate.', l, -1);
  e.gauge(
    'vllm:gpu_prefix_cache_hit_rate',
    'GPU prefix cache block hit rate.',
    l,
    s.prefixCacheQueries > 0 ? s.prefixCacheHits / s.prefixCacheQueries : 0,
  );
  e.pyCounter('vllm:num_preemptions', 'Cumulative number of preemption from the engine.', l, 0, startedAt);
  e.pyCounter('vllm:prompt_tokens', 'Number of prefill tokens processed.', l, s.promptTokens, startedAt);
  e.pyCounter('vllm:generation_tokens', 'Number of generation tokens processed.', l, s.generationTokens, startedAt);
  e.histogram('vllm:time_to_first_token_seconds', TTFT_HELP, l, VLLM_TTFT_BUCKETS, s.ttft);
  e.histogram('vllm:time_per_output_token_seconds', 'Histogram of time per output token in seconds.', l, VLLM_ITL_BUCKETS, s.tpot);
  return lines.join('\n') + '\n' + e.text();
}

function renderSglang(ctx: RenderContext): string {
  const { state: s } = ctx;
  const e = new Exposition(pyFloat);
  const l = { model_name: s.model };
  // SGLang runs prometheus_client in multiprocess mode: no `_created` series, no process collector.
  e.header('sglang:prompt_tokens_total', 'counter', 'Number of prefill tokens processed.');
  e.sample('sglang:prompt_tokens_total', l, s.promptTokens);
  e.header('sglang:generation_tokens_total', 'counter', 'Number of generation tokens processed.');
  e.sample('sglang:generation_tokens_total', l, s.generationTokens);
  e.header('sglang:cached_tokens_total', 'counter', 'Number of cached prompt tokens.');
  e.sample('sglang:cached_tokens_total', l, s.prefixCacheHits);
  e.header('sglang:num_requests_total', 'counter', 'Number of requests processed.');
  e.sample('sglang:num_requests_total', l, s.ttft.count);
  e.histogram('sglang:time_to_first_token_seconds', TTFT_HELP, l, SGLANG_TTFT_BUCKETS, s.ttft);
  e.histogram('sglang:inter_token_latency_seconds', ITL_HELP, l, SGLANG_ITL_BUCKETS, s.tpot);
  e.gauge('sglang:num_running_reqs', 'The number of running requests.', l, ctx.running);
  const capacity = s.numGpuBlocks * s.blockSize;
  e.gauge('sglang:num_used_tokens', 'The number of used tokens.', l, Math.round(s.kvCacheUsage * capacity));
  e.gauge('sglang:token_usage', 'The token usage.', l, s.kvCacheUsage);
  e.gauge('sglang:gen_throughput', 'The generation throughput (token/s).', l, s.genThroughput);
  e.gauge('sglang:num_queue_reqs', 'The number of requests in the waiting queue.', l, s.waiting);
  e.gauge('sglang:num_grammar_queue_reqs', 'The number of requests in the grammar waiting queue.', l, 0);
  e.gauge(
    'sglang:cache_hit_rate',
    'The prefix cache hit rate.',
    l,
    s.prefixCacheQueries > 0 ? s.prefixCacheHits / s.prefixCacheQueries : 0,
  );
  e.gauge('sglang:max_total_num_tokens', 'Maximum total number of tokens in the KV cache pool.', l, capacity);
  return e.text();
}

function renderTgi(ctx: RenderContext): string {
  const { state: s } = ctx;
  const e = new Exposition(rustFloat);
  const none = {};
  // TTFT is split into queue time (60%) and prefill time (40%) so that queue + prefill reproduces state.ttft.
  const queue = { sum: s.ttft.sum * 0.6, count: s.ttft.count };
  const prefill = { sum: s.ttft.sum * 0.4, count: s.ttft.count };
  const decode = { sum: s.tpot.sum, count: s.tpot.count };
  e.header('tgi_request_count', 'counter', 'Total number of requests');
  e.sample('tgi_request_count', none, s.ttft.count);
  e.header('tgi_request_success', 'counter', 'Number of successful requests');
  e.sample('tgi_request_success', none, s.ttft.count);
  e.gauge('tgi_queue_size', 'Current queue size', none, s.waiting);
  e.gauge('tgi_batch_current_size', 'Current batch size', none, ctx.running);
  e.gauge(
    'tgi_batch_current_max_tokens',
    'Maximum tokens for the current batch',
    none,
    Math.round(s.kvCacheUsage * s.maxBatchTotalTokens),
  );
  e.header('tgi_batch_inference_count', 'counter', 'Inference calls per method (prefill or decode)');
  e.sample('tgi_batch_inference_count', { method: 'prefill' }, prefill.count);
  e.sample('tgi_batch_inference_count', { method: 'decode' }, decode.count);
  e.histogram('tgi_request_validation_duration', 'Time spent validating the request', none, TGI_DURATION_BUCKETS, {
    sum: s.ttft.count * 0.0004,
    count: s.ttft.count,
  });
  e.histogram('tgi_request_queue_duration', 'Time spent in the queue per request', none, TGI_DURATION_BUCKETS, queue);
  e.header('tgi_batch_inference_duration', 'histogram', 'Batch inference duration');
  e.histogramSamples('tgi_batch_inference_duration', { method: 'prefill' }, TGI_DURATION_BUCKETS, prefill);
  e.histogramSamples('tgi_batch_inference_duration', { method: 'decode' }, TGI_DURATION_BUCKETS, decode);
  e.histogram(
    'tgi_request_mean_time_per_token_duration',
    'Mean time per token per request',
    none,
    TGI_DURATION_BUCKETS,
    s.tpot,
  );
  const tokenBuckets = Array.from({ length: 100 }, (_, i) => (s.maxBatchTotalTokens / 100) * (i + 1));
  e.histogram('tgi_request_generated_tokens', 'Generated tokens per request', none, tokenBuckets, {
    sum: s.generationTokens,
    count: s.ttft.count,
  });
  e.histogram('tgi_request_input_length', 'Input token length per request', none, tokenBuckets, {
    sum: s.promptTokens,
    count: s.ttft.count,
  });
  return e.text();
}

// ---------------------------------------------------------------------------------------------------------------
// The pod

const MAX_BODY = 1024 * 1024;

class FakePod implements FakeEngine {
  address = '';
  url = '';
  metricsUrl = '';
  served = 0;
  scrapes = 0;
  openScrapes = 0;
  maxConcurrentScrapes = 0;
  lastRequest: ReceivedRequest | undefined;
  state: FakeEngineState;

  private readonly engine: FakeEngineKind;
  private readonly server: Server;
  private readonly loraHistory: LoraHistoryEntry[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly startedAt = Math.floor(Date.now() / 1000) - 3600;
  private inflight = 0;
  private loraClock = 0;

  constructor(options: FakeEngineOptions) {
    this.engine = options.engine;
    this.state = { ...defaultFakeState(), ...options.state };
    this.recordLoras();
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 60_000;
  }

  async listen(host: string, port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    const info = this.server.address() as AddressInfo;
    this.address = `${host}:${info.port}`;
    this.url = `http://${this.address}`;
    this.metricsUrl = `${this.url}/metrics`;
  }

  setState(partial: Partial<FakeEngineState>): void {
    this.state = { ...this.state, ...partial };
    if (partial.loras !== undefined) this.recordLoras();
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private recordLoras(): void {
    const loras = this.state.loras;
    if (!loras) return;
    // Strictly increasing "set_to_current_time" values even within one millisecond.
    this.loraClock = Math.max(this.loraClock + 0.001, Date.now() / 1000);
    this.loraHistory.push({
      running: loras.running.join(','),
      waiting: loras.waiting.join(','),
      max: loras.max,
      setAt: this.loraClock,
    });
  }

  private later(ms: number, fn: () => void): void {
    if (ms <= 0) return fn();
    const t = setTimeout(() => {
      this.timers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('x-fake-pod', this.address);
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && path === '/metrics') return this.serveMetrics(res);
    if (req.method === 'GET' && (path === '/health' || path === '/ping')) return void res.end();
    if (req.method === 'GET' && path === '/v1/models') return this.serveModels(res);
    if (req.method === 'POST' && (path === '/v1/chat/completions' || path === '/v1/completions')) {
      this.served++;
      return this.readJson(req, res, (body) => this.serveCompletion(req, res, path, body));
    }
    sendError(res, 404, `no route for ${req.method} ${path}`);
  }

  private serveMetrics(res: ServerResponse): void {
    this.scrapes++;
    this.openScrapes++;
    this.maxConcurrentScrapes = Math.max(this.maxConcurrentScrapes, this.openScrapes);
    res.on('close', () => this.openScrapes--);
    if (this.state.hangMetrics) return;
    this.later(this.state.metricsDelayMs, () => {
      if (res.destroyed) return;
      if (this.state.metricsStatus !== 200) {
        res.writeHead(this.state.metricsStatus, { 'content-type': 'text/plain' });
        return void res.end('engine unavailable\n');
      }
      const text = renderMetrics(this.engine, {
        state: this.state,
        running: this.state.running + (this.state.trackLoad ? this.inflight : 0),
        loraHistory: this.loraHistory,
        startedAt: this.startedAt,
      });
      res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
      res.end(text);
    });
  }

  private serveModels(res: ServerResponse): void {
    const ids = [this.state.model, ...(this.state.loras?.running ?? [])];
    sendJson(res, 200, {
      object: 'list',
      data: ids.map((id) => ({ id, object: 'model', created: this.startedAt, owned_by: this.engine })),
    });
  }

  private readJson(req: IncomingMessage, res: ServerResponse, next: (body: Record<string, unknown>) => void): void {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY) chunks.push(chunk);
    });
    req.on('end', () => {
      if (size > MAX_BODY) return sendError(res, 413, 'request body too large');
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return sendError(res, 400, 'request body is not valid JSON');
      }
      if (typeof body !== 'object' || body === null || typeof (body as { model?: unknown }).model !== 'string') {
        return sendError(res, 400, 'request body needs a string "model"');
      }
      next(body as Record<string, unknown>);
    });
  }

  private serveCompletion(req: IncomingMessage, res: ServerResponse, path: string, body: Record<string, unknown>): void {
    this.lastRequest = { method: req.method ?? 'POST', path, headers: req.headers, body };
    const s = this.state;
    if (s.completionStatus < 200 || s.completionStatus >= 300) {
      return this.later(s.completionDelayMs, () => sendError(res, s.completionStatus, 'fake engine failure'));
    }
    const chat = path === '/v1/chat/completions';
    const model = body.model as string;
    const maxTokens = typeof body.max_tokens === 'number' ? body.max_tokens : body.max_completion_tokens;
    const n = Math.max(0, Math.min(s.completionTokens, typeof maxTokens === 'number' ? maxTokens : Infinity));
    const promptTokens = Math.max(1, Math.ceil(JSON.stringify(chat ? body.messages ?? '' : body.prompt ?? '').length / 4));
    const words = Array.from({ length: n }, (_, i) => `tok${i} `);
    const usage = { prompt_tokens: promptTokens, completion_tokens: n, total_tokens: promptTokens + n };
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${this.served}`;
    const created = Math.floor(Date.now() / 1000);
    const finish = n < s.completionTokens ? 'length' : 'stop';
    const startedAt = Date.now();
    this.inflight++;
    let firstTokenAt = 0;
    let finished = false;
    const done = (): void => {
      if (finished) return;
      finished = true;
      this.inflight--;
      if (!s.trackLoad) return;
      const end = Date.now();
      const st = this.state;
      this.state = {
        ...st,
        promptTokens: st.promptTokens + promptTokens,
        generationTokens: st.generationTokens + n,
        ttft: { sum: st.ttft.sum + ((firstTokenAt || end) - startedAt) / 1000, count: st.ttft.count + 1 },
        tpot:
          n > 1
            ? { sum: st.tpot.sum + (end - (firstTokenAt || end)) / 1000, count: st.tpot.count + n - 1 }
            : st.tpot,
      };
    };
    res.on('close', () => {
      if (!res.writableFinished) done(); // client went away mid-stream
    });

    if (body.stream !== true) {
      return this.later(s.completionDelayMs, () => {
        firstTokenAt = Date.now();
        const text = words.join('');
        const choice = chat
          ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finish }
          : { index: 0, text, logprobs: null, finish_reason: finish };
        sendJson(res, 200, {
          id,
          object: chat ? 'chat.completion' : 'text_completion',
          created,
          model,
          choices: [choice],
          usage,
        });
        done();
      });
    }

    const streamOptions = body.stream_options as { include_usage?: unknown } | undefined;
    const withUsage =
      s.streamUsage === 'always' || (s.streamUsage === 'requested' && streamOptions?.include_usage === true);
    const object = chat ? 'chat.completion.chunk' : 'text_completion';
    const chunk = (choices: unknown[], extra: Record<string, unknown> = {}): string =>
      `data: ${JSON.stringify({ id, object, created, model, choices, ...extra })}\n\n`;
    const delta = (content: string | undefined, finishReason: string | null, role?: string): unknown => {
      if (!chat) return { index: 0, text: content ?? '', logprobs: null, finish_reason: finishReason };
      const d = { ...(role ? { role } : {}), ...(content !== undefined ? { content } : {}) };
      return { index: 0, delta: d, logprobs: null, finish_reason: finishReason };
    };
    const events: string[] = [];
    if (chat) events.push(chunk([delta('', null, 'assistant')]));
    words.forEach((w, i) => events.push(chunk([delta(w, i === words.length - 1 ? finish : null)])));
    if (words.length === 0) events.push(chunk([delta(chat ? undefined : '', finish)]));
    if (withUsage) events.push(chunk([], { usage }));
    events.push('data: [DONE]\n\n');

    this.later(s.completionDelayMs, () => {
      if (res.destroyed) return;
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      firstTokenAt = Date.now();
      const writeNext = (i: number): void => {
        if (res.destroyed) return;
        if (i >= events.length) {
          res.end();
          return done();
        }
        res.write(events[i]);
        this.later(s.completionDelayMs, () => writeNext(i + 1));
      };
      writeNext(0);
    });
  }
}

function sendJson(res: ServerResponse, status: number, payload: unknown): void {
  if (res.destroyed) return;
  const text = JSON.stringify(payload);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

function sendError(res: ServerResponse, status: number, message: string): void {
  const type = status >= 500 ? 'InternalServerError' : 'BadRequestError';
  sendJson(res, status, { object: 'error', message, type, param: null, code: status });
}
