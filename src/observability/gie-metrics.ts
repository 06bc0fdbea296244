import { Counter, Gauge, Histogram } from 'prom-client';
import { registry } from './metrics.js';

// The Gateway API Inference Extension endpoint picker's series, with its names, labels and buckets. model_name is
// the client's model, target_model_name the one sent to the engine. TTFT and TPOT are measured at the router from the
// streamed response (what the user sees), not taken from the engine.

const LATENCY_BUCKETS = [
  0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60, 120, 180, 240,
  300, 360, 480, 600, 900, 1200, 1800, 2700, 3600,
];
const TPOT_BUCKETS = [
  0.0005, 0.00205, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.125, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1, 1.5, 2, 3,
  4.5, 6, 12, 18, 24, 30, 36, 48, 60, 90, 120, 180, 270, 360,
];
const MODEL = ['model_name', 'target_model_name'] as const;

export const objectiveRequests = new Counter({
  name: 'inference_objective_request_total',
  help: 'Counter of inference objective requests broken out for each model and target model.',
  labelNames: MODEL,
  registers: [registry],
});

export const objectiveErrors = new Counter({
  name: 'inference_objective_request_error_total',
  help: 'Counter of inference objective requests errors broken out for each model and target model.',
  labelNames: [...MODEL, 'error_code'] as const,
  registers: [registry],
});

export const objectiveDuration = new Histogram({
  name: 'inference_objective_request_duration_seconds',
  help: 'Inference objective response latency distribution in seconds for each model and target model.',
  labelNames: MODEL,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const objectiveRequestSizes = new Histogram({
  name: 'inference_objective_request_sizes',
  help: 'Inference objective requests size distribution in bytes for each model and target model.',
  labelNames: MODEL,
  buckets: [
    64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288, 1048576, 2097152, 4194304,
    8388608, 16777216, 33554432, 67108864, 134217728, 268435456, 536870912, 1073741824,
  ],
  registers: [registry],
});

export const objectiveResponseSizes = new Histogram({
  name: 'inference_objective_response_sizes',
  help: 'Inference objective responses size distribution in bytes for each model and target model.',
  labelNames: MODEL,
  buckets: [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536],
  registers: [registry],
});

export const objectiveInputTokens = new Histogram({
  name: 'inference_objective_input_tokens',
  help: 'Inference objective input token count distribution for requests in each model.',
  labelNames: MODEL,
  buckets: [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32778, 65536, 131072, 262144, 524288, 1048576],
  registers: [registry],
});

export const objectiveOutputTokens = new Histogram({
  name: 'inference_objective_output_tokens',
  help: 'Inference objective output token count distribution for requests in each model.',
  labelNames: MODEL,
  buckets: [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192],
  registers: [registry],
});

export const objectiveRunning = new Gauge({
  name: 'inference_objective_running_requests',
  help: 'Inference objective number of running requests in each model.',
  labelNames: ['model_name'] as const,
  registers: [registry],
});

export const objectiveNtpot = new Histogram({
  name: 'inference_objective_normalized_time_per_output_token_seconds',
  help: 'Inference objective latency divided by number of output tokens in seconds for each model and target model.',
  labelNames: MODEL,
  buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0],
  registers: [registry],
});

export const objectiveTtft = new Histogram({
  name: 'inference_objective_request_ttft_seconds',
  help: 'Time to the first streamed token, measured at the router, for each model and target model.',
  labelNames: MODEL,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

export const objectiveTpot = new Histogram({
  name: 'inference_objective_request_tpot_seconds',
  help: 'Time per output token after the first, measured at the router on streamed responses, for each model and target model.',
  labelNames: MODEL,
  buckets: TPOT_BUCKETS,
  registers: [registry],
});

export const poolAvgKvCache = new Gauge({
  name: 'inference_pool_average_kv_cache_utilization',
  help: 'The average kv cache utilization for an inference server pool (InferencePool or ModelServer).',
  labelNames: ['name'] as const,
  registers: [registry],
});

export const poolAvgQueueSize = new Gauge({
  name: 'inference_pool_average_queue_size',
  help: 'The average number of requests pending in the model server queue.',
  labelNames: ['name'] as const,
  registers: [registry],
});

export const poolAvgRunning = new Gauge({
  name: 'inference_pool_average_running_requests',
  help: 'The average number of running requests across model servers in the pool.',
  labelNames: ['name'] as const,
  registers: [registry],
});

export const poolReadyPods = new Gauge({
  name: 'inference_pool_ready_pods',
  help: 'The number of ready pods in the inference server pool.',
  labelNames: ['name'] as const,
  registers: [registry],
});
