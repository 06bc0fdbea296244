import { availableParallelism } from 'node:os';
import { TokenizerWorkerPool } from './offload.js';
import {
  clearTokenizerRegistrations as clearRegistrations,
  encodingFor,
  registerTokenizerFile as register,
  tokenizerRegistrations,
} from './registry.js';

// Public tokenizer API. Sync calls are exact and run on the caller's thread. The async calls are the hot-path entry:
// prompts up to `syncLimitChars` are counted inline (≈1-3 ms), bigger ones in a pool of worker threads so the event
// loop stays responsive; if the pool cannot answer within `workerTimeoutMs` (or `maxQueued` jobs are already in it),
// or the caller's signal aborts (its request timed out or went away), `estimateTokens` answers instead and the job's
// remaining work is dropped. Work per text is linear in its length (see bpe.ts).

export { encodingFor, tokenizerRegistrations };
export type { Encoding } from './types.js';
export type { TokenizerRegistration } from './registry.js';

export interface TokenizerOptions {
  /** Prompts longer than this (UTF-16 code units) are counted off the event loop. */
  syncLimitChars: number;
  workerTimeoutMs: number;
  /** Jobs in the pool (queued or running) at most; more are estimated at once. */
  maxQueued: number;
  /** Worker threads, started on demand. */
  workers: number;
}

/** One core is left to the event loop; past 4 threads the gain is small and each holds its own copy of the tables. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(4, availableParallelism() - 1));
}

/** A worker takes this much text (UTF-16 units) at a time: ~3 ms of work, the delay before a dropped job stops. */
const SLICE_CHARS = 64 * 1024;

const options: TokenizerOptions = { syncLimitChars: 8192, workerTimeoutMs: 2000, maxQueued: 64, workers: defaultWorkerCount() };
const worker = new TokenizerWorkerPool(tokenizerRegistrations, () => ({
  timeoutMs: options.workerTimeoutMs,
  maxQueued: options.maxQueued,
  workers: options.workers,
  sliceChars: SLICE_CHARS,
}));

export function configureTokenizer(patch: Partial<TokenizerOptions>): void {
  Object.assign(options, patch);
}

export function registerTokenizerFile(modelPattern: string, path: string): void {
  register(modelPattern, path);
  void worker.stop(); // the next big job starts a worker that knows the new file
}

export function clearTokenizerRegistrations(): void {
  clearRegistrations();
  void worker.stop();
}

export function countTokens(model: string, text: string): number {
  return encodingFor(model).count(text);
}

export function tokenize(model: string, text: string): number[] {
  return encodingFor(model).encode(text);
}

/** Input tokens of a prompt; `signal` aborting (the request is over) drops the work and answers the estimate. */
export async function countTokensAsync(model: string, text: string, signal?: AbortSignal): Promise<number> {
  if (text.length <= options.syncLimitChars) return countTokens(model, text);
  const n = await worker.run('count', model, text, signal);
  return typeof n === 'number' ? n : estimateTokens(text);
}

/** Token ids off the event loop for big texts; `undefined` when the pool could not answer in time. */
export async function tokenizeAsync(model: string, text: string, signal?: AbortSignal): Promise<number[] | undefined> {
  if (text.length <= options.syncLimitChars) return tokenize(model, text);
  const ids = await worker.run('tokenize', model, text, signal);
  return Array.isArray(ids) ? ids : undefined;
}

/**
 * Conservative estimate used when exact counting is unavailable: one token per 3 UTF-8 bytes. Real BPE vocabularies
 * average ~4 bytes per token on English and ~3 on code and CJK, so this over-counts rather than under-counts, which
 * errs on the side of the rate limit.
 */
export function estimateTokens(text: string): number {
  return Math.ceil(Buffer.byteLength(text, 'utf8') / 3);
}

/**
 * Loads the models' tokenizers ahead of the first request, here and in the worker thread (loading an OpenAI encoding
 * takes up to a second). Call it at startup.
 */
export async function preloadTokenizers(models: string[]): Promise<void> {
  for (const m of models) encodingFor(m);
  // One job per thread at a time, so that every thread starts and loads every model's tables.
  for (const m of models) await Promise.all(Array.from({ length: options.workers }, () => worker.run('count', m, '')));
}

/** Stops the worker thread (graceful shutdown). */
export function closeTokenizer(): Promise<void> {
  return worker.stop();
}
