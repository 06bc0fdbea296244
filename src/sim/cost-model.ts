// Simulated duration of one engine step (one forward pass over the scheduled batch), in simulated milliseconds,
// on a roofline: a step reads all weights once (decodeBaseMs, memory-bound) while it computes every scheduled token
// (prefillTokensPerSec, compute-bound); whichever takes longer sets the pace, so decode tokens ride along a prefill
// chunk almost for free and a pure decode step costs about the weight read. On top come per-sequence work
// (sampling, scheduling: decodePerSeqMs) and reading the KV of every context token in the batch
// (kvReadMsPer1kTokens). Loading a LoRA adapter into a slot costs loraLoadMs; a batch with any adapter runs
// loraBatchOverhead slower (the extra LoRA matmuls). speed scales the whole GPU (0.5 = half as fast).
// Defaults and their sources: docs/simulator.md.

export interface CostParams {
  prefillTokensPerSec: number;
  decodeBaseMs: number;
  decodePerSeqMs: number;
  kvReadMsPer1kTokens: number;
  loraLoadMs: number;
  loraBatchOverhead: number;
}

export interface StepWork {
  /** Sequences in the batch. */
  seqs: number;
  /** Tokens computed in this step, summed over the batch (1 per decoding sequence, a chunk per prefilling one). */
  computedTokens: number;
  /** Tokens whose KV the step attends over (cached prefix + computed), summed over the batch. */
  contextTokens: number;
  /** Adapters loaded into a slot before this step. */
  loraLoads: number;
  /** Whether any sequence in the batch uses an adapter. */
  hasLora: boolean;
}

/** Llama-3.1-8B (BF16) on one A100-40GB with vLLM; see docs/simulator.md for the calibration. */
export const DEFAULT_COST: CostParams = {
  prefillTokensPerSec: 12000,
  decodeBaseMs: 12.5,
  decodePerSeqMs: 0.1,
  kvReadMsPer1kTokens: 0.12,
  loraLoadMs: 150,
  loraBatchOverhead: 0.1,
};

export function stepDurationMs(p: CostParams, w: StepWork, speed: number): number {
  if (w.seqs === 0) return 0;
  const computeMs = (w.computedTokens * 1000) / p.prefillTokensPerSec;
  let ms =
    Math.max(p.decodeBaseMs, computeMs) +
    p.decodePerSeqMs * w.seqs +
    (p.kvReadMsPer1kTokens * w.contextTokens) / 1000;
  if (w.hasLora) ms *= 1 + p.loraBatchOverhead;
  return (ms + p.loraLoadMs * w.loraLoads) / speed;
}
