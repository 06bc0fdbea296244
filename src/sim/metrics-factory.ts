import type { EngineMetrics } from './metrics.js';
import { SglangMetrics } from './metrics-sglang.js';
import { VllmMetrics } from './metrics-vllm.js';
import type { SimOptions } from './options.js';

/** The metric set of the engine flavour the simulator impersonates. */
export function createMetrics(options: SimOptions): EngineMetrics {
  return options.engine === 'sglang' ? new SglangMetrics(options) : new VllmMetrics(options);
}
