// Engine adapter registry: Endpoint.engine (ModelServer.spec.inferenceEngine) → adapter, case-insensitively.
import { sglangAdapter } from './sglang.js';
import { tgiAdapter } from './tgi.js';
import { trtllmAdapter } from './trtllm.js';
import type { EngineAdapter } from './types.js';
import { vllmAdapter } from './vllm.js';

export type { EngineAdapter, Scrape } from './types.js';
export { vllmAdapter, readLoraState, type LoraState } from './vllm.js';
export { sglangAdapter } from './sglang.js';
export { tgiAdapter, createTgiAdapter, type TgiAdapterOptions } from './tgi.js';
export { trtllmAdapter } from './trtllm.js';

/** Tried in order by the auto adapter; vLLM first, as it is the common case and the Go EPP's default. */
const ADAPTERS: readonly EngineAdapter[] = [vllmAdapter, sglangAdapter, tgiAdapter, trtllmAdapter];

/**
 * Fallback for an unknown or empty engine name: the first adapter that finds its core gauges in the scrape wins,
 * so a pod labelled with an engine we do not know still gets metrics if it speaks one of the known dialects.
 */
export const autoAdapter: EngineAdapter = {
  engine: 'auto',
  familyNames: [...new Set(ADAPTERS.flatMap((a) => a.familyNames))],
  toMetrics(current, previous) {
    for (const adapter of ADAPTERS) {
      const metrics = adapter.toMetrics(current, previous);
      if (metrics) return metrics;
    }
    return undefined;
  },
};

const BY_NAME = new Map<string, EngineAdapter>([
  ['vllm', vllmAdapter],
  ['sglang', sglangAdapter],
  ['tgi', tgiAdapter],
  ['text-generation-inference', tgiAdapter],
  ['trtllm', trtllmAdapter],
  ['trt-llm', trtllmAdapter],
  ['trtllm-serve', trtllmAdapter],
  ['tensorrt-llm', trtllmAdapter],
  ['triton-tensorrt-llm', trtllmAdapter],
]);

/** Adapter for an engine name ('vLLM', 'sglang', 'TGI', 'TRTLLM', ...); unknown names get the auto adapter. */
export function adapterFor(engine: string | undefined): EngineAdapter {
  return BY_NAME.get((engine ?? '').trim().toLowerCase()) ?? autoAdapter;
}
