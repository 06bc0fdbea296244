import { arrivalTimes } from '../loadgen/arrivals.js';
import { generateRequests, type LoadRequest } from '../loadgen/generate.js';
import { Rng } from '../loadgen/random.js';
import { summarize } from '../loadgen/stats.js';
import { chainRoot, digestTokens, extendBlockHashes } from '../../src/sim/block-hash.js';
import { stepDurationMs } from '../../src/sim/cost-model.js';
import { parseInferenceRequest, resolveMaxTokens } from '../../src/sim/openai-request.js';
import { resolveOptions, type SimOptions } from '../../src/sim/options.js';
import { outputGenerator } from '../../src/sim/output-text.js';
import { renderChat } from '../../src/sim/prompt-template.js';
import { tokenize } from '../../src/sim/tokenizer.js';
import { MODEL, speedOf, type FleetSpec } from './fleet.js';
import type { RowMetrics } from './cell.js';
import type { BenchWorkload } from './workloads.js';

// The "ideal bound" row of the scheduling benchmark: computed, not run, from the request sequence and arrival times
// a cell replays and the simulator's own tokenizer, prompt template, block hashing and cost model. It assumes
//   - an infinite prefix cache shared by the whole fleet: a prompt reuses the longest prefix, in whole KV blocks,
//     that it shares with any earlier request (prompt or generated answer, on any instance's seed);
//   - adapters already loaded, no queueing: each request runs alone in its batch on the fastest GPU the moment it
//     arrives (chunked prefill of its uncached tokens, then one decode step per further output token);
//   - for the end of the run: no earlier than the latest arrival plus that request's minimal latency, and no earlier
//     than the fleet's summed compute allows for the tokens that arrive after any given moment.
// Every request does at least this much work at least this late on the simulator, so no policy can beat the bound;
// none can reach it either (it ignores queueing and batching). All times are modelled (simulated GPU) time.

export const BOUND_NAME = 'ideal bound';

/** Row metrics as bounds: throughputs from the start of the replay to the earliest possible last completion; TTFT
 * and e2e percentiles of the per-request minima; ideal cached prompt tokens / prompt tokens, as the engines count them. */
export interface BoundResult extends RowMetrics {
  policy: typeof BOUND_NAME;
  /** Earliest possible last completion, modelled ms from the start of the replay. */
  endMs: number;
  /** Which term set endMs: the latest arrival's own latency, or the fleet's compute. */
  limitedBy: 'latency' | 'compute';
}

export type BoundFleet = Omit<FleetSpec, 'timeScale'>;

/** One request as an engine sees it, with its ideal costs. */
export interface RequestBound {
  promptTokens: number;
  /** Prompt tokens found in the ideal cache. */
  cachedTokens: number;
  outputTokens: number;
  lora: string | null;
  /** Minimal TTFT and end-to-end latency, modelled ms. */
  ttftMs: number;
  e2eMs: number;
  /** GPU time every token this request forces to be computed costs at speed 1, modelled ms. */
  computeMs: number;
}

/** The engine options of the bench fleet (fleet.ts passes these flags; everything else is the simulator default). */
export function fleetSimOptions(fleet: BoundFleet): SimOptions {
  return resolveOptions({ model: MODEL, kvBlocks: fleet.kvBlocks, loras: fleet.loras, maxLoras: fleet.maxLoras });
}

/** The bound for one workload as a cell replays it with `seed`. */
export function idealBound(workload: BenchWorkload, fleet: BoundFleet, seed: number): BoundResult {
  const requests = generateRequests(workload.workload, seed, workload.requests);
  const times = arrivalTimes(workload.rate, workload.burstiness, new Rng(seed).fork('arrivals'));
  const arrivals = requests.map(() => times.next().value);
  const speeds = Array.from({ length: fleet.instances }, (_, i) => speedOf({ ...fleet, timeScale: workload.timeScale }, i));
  // fleet.ts starts instance i with --seed i+1; the seed picks the generated answers a later prompt might quote.
  const seeds = speeds.map((_, i) => i + 1);
  const perRequest = requestBounds(requests, fleetSimOptions({ ...fleet, kvBlocks: workload.kvBlocks ?? fleet.kvBlocks }), Math.max(...speeds), seeds);
  return aggregate(workload.name, perRequest, arrivals, speeds.reduce((a, b) => a + b, 0));
}

/** Per-request minima, in sequence order (each request may reuse what any earlier one computed). */
export function requestBounds(requests: readonly LoadRequest[], sim: SimOptions, speed: number, seeds: readonly number[]): RequestBound[] {
  const cache = new Set<number>();
  const { blockSize, cost } = sim;
  return requests.map((req) => {
    const { tokens, lora, maxTokens } = engineInput(req, sim);
    const root = chainRoot(lora);
    const hashes: number[] = [];
    extendBlockHashes(hashes, tokens, blockSize, root);
    // As the engine matches: leading cached blocks, leaving at least one prompt token to compute.
    const maxBlocks = Math.floor((tokens.length - 1) / blockSize);
    let hit = 0;
    while (hit < maxBlocks && cache.has(hashes[hit]!)) hit++;
    const cachedTokens = hit * blockSize;
    for (const h of hashes) cache.add(h);
    for (const s of seeds) for (const h of answerBlockHashes(tokens, hashes, lora, maxTokens, s, blockSize)) cache.add(h);
    const ttftMs = prefillMs(sim, tokens.length, cachedTokens, lora !== null, speed);
    const computed = tokens.length - cachedTokens + maxTokens - 1;
    return {
      promptTokens: tokens.length,
      cachedTokens,
      outputTokens: maxTokens,
      lora,
      ttftMs,
      e2eMs: ttftMs + decodeMs(sim, tokens.length, maxTokens, lora !== null, speed),
      computeMs: ((computed * 1000) / cost.prefillTokensPerSec) * (lora !== null ? 1 + cost.loraBatchOverhead : 1),
    };
  });
}

/** Prompt tokens, adapter and output tokens as the simulator derives them from the body the router forwards. */
export function engineInput(req: LoadRequest, sim: SimOptions): { tokens: number[]; lora: string | null; maxTokens: number } {
  // The router renames the route's model to the ModelServer's; adapter names pass unchanged.
  const model = sim.loras.includes(req.model) ? req.model : sim.model;
  const kind = req.path === '/v1/chat/completions' ? 'chat' : 'completion';
  const parsed = parseInferenceRequest(kind, { ...req.body, model }, { model: sim.model, loras: new Set(sim.loras) });
  const p = parsed.prompt;
  const tokens = 'messages' in p ? tokenize(renderChat(p.messages)) : 'text' in p ? tokenize(p.text) : p.tokens;
  return { tokens, lora: parsed.lora, maxTokens: resolveMaxTokens(parsed.maxTokens, tokens.length, sim) };
}

/** Hashes of the full blocks past the prompt that an engine with `seed` registers while generating the answer. */
function answerBlockHashes(
  tokens: readonly number[], promptHashes: readonly number[], lora: string | null, maxTokens: number, seed: number, blockSize: number,
): number[] {
  const root = chainRoot(lora);
  const next = outputGenerator(seed, digestTokens(tokens) ^ root);
  // The last answer token is emitted but never computed, so its block is never registered.
  const seq = [...tokens];
  for (let i = 0; i < maxTokens - 1; i++) seq.push(next().id);
  const hashes = [...promptHashes];
  extendBlockHashes(hashes, seq, blockSize, root);
  return hashes.slice(promptHashes.length);
}

/** Prefill of the uncached tokens, alone in its batch: chunks of the step budget, the first token at the last end. */
export function prefillMs(sim: SimOptions, promptTokens: number, cachedTokens: number, lora: boolean, speed: number): number {
  let ms = 0;
  for (let done = cachedTokens; done < promptTokens; ) {
    const n = Math.min(promptTokens - done, sim.maxNumBatchedTokens);
    ms += stepDurationMs(sim.cost, { seqs: 1, computedTokens: n, contextTokens: done + n, loraLoads: 0, hasLora: lora }, speed);
    done += n;
  }
  return ms;
}

/** One decode step alone per output token after the first. */
export function decodeMs(sim: SimOptions, promptTokens: number, outputTokens: number, lora: boolean, speed: number): number {
  let ms = 0;
  for (let k = 1; k < outputTokens; k++) {
    ms += stepDurationMs(sim.cost, { seqs: 1, computedTokens: 1, contextTokens: promptTokens + k, loraLoads: 0, hasLora: lora }, speed);
  }
  return ms;
}

/**
 * The run's bound from per-request minima and arrival times (ms from the replay's start). A step costs at least its
 * computed tokens at the prefill rate (divided by the GPU's speed), so the tokens of requests arriving at or after
 * a_j need at least their compute time divided by the fleet's summed speed after a_j.
 */
export function aggregate(workload: string, reqs: readonly RequestBound[], arrivals: readonly number[], totalSpeed: number): BoundResult {
  if (reqs.length === 0 || reqs.length !== arrivals.length) throw new RangeError('need one arrival time per request, at least one request');
  let latencyEnd = 0;
  reqs.forEach((r, i) => (latencyEnd = Math.max(latencyEnd, arrivals[i]! + r.e2eMs)));
  let computeEnd = 0;
  let later = 0;
  for (let j = reqs.length - 1; j >= 0; j--) {
    later += reqs[j]!.computeMs;
    computeEnd = Math.max(computeEnd, arrivals[j]! + later / totalSpeed);
  }
  const endMs = Math.max(latencyEnd, computeEnd);
  const ttft = summarize(reqs.map((r) => r.ttftMs));
  const e2e = summarize(reqs.map((r) => r.e2eMs));
  const sum = (f: (r: RequestBound) => number) => reqs.reduce((n, r) => n + f(r), 0);
  return {
    workload,
    policy: BOUND_NAME,
    requests: reqs.length,
    completed: reqs.length,
    throughput: reqs.length / (endMs / 1000),
    outputTokensPerSecond: sum((r) => r.outputTokens) / (endMs / 1000),
    ttftP50: ttft.p50,
    ttftP99: ttft.p99,
    e2eP50: e2e.p50,
    e2eP99: e2e.p99,
    prefixHitRate: sum((r) => r.cachedTokens) / sum((r) => r.promptTokens),
    endMs,
    limitedBy: computeEnd > latencyEnd ? 'compute' : 'latency',
  };
}
