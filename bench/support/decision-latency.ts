import type { InboundRequest, Pipeline } from '../../src/core/types.js';
import { createBenchPipeline } from './router-pipeline.js';

export interface DecisionLatency {
  pods: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

/**
 * The pipeline's own decision time (parse, route, schedule, rewrite) with no transport, measured call by call:
 * the number the gateway's message timeout has to cover.
 */
export async function measureDecision(pods: number, iterations = 5000): Promise<DecisionLatency> {
  const pipeline: Pipeline = createBenchPipeline(pods);
  const body = Buffer.from(
    JSON.stringify({ model: 'bench-model', stream: true, messages: [{ role: 'user', content: 'x'.repeat(1000) }] }),
  );
  const req: InboundRequest = { method: 'POST', path: '/v1/chat/completions', headers: new Map(), body, frontend: 'extproc' };
  const samples: number[] = [];
  for (let i = 0; i < iterations + 500; i++) {
    const t0 = performance.now();
    const d = await pipeline.handle(req);
    const dt = performance.now() - t0;
    if (d.kind === 'route') d.exchange.finish('success');
    if (i >= 500) samples.push(dt); // the first calls warm up the JIT
  }
  samples.sort((a, b) => a - b);
  const q = (p: number) => samples[Math.min(samples.length - 1, Math.floor(p * samples.length))]!;
  return { pods, p50Ms: q(0.5), p99Ms: q(0.99), maxMs: samples.at(-1)! };
}
