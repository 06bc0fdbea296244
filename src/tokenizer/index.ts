import { TokenizerWorker } from './offload.js';
import {
  clearTokenizerRegistrations as clearRegistrations,
  encodingFor,
  registerTokenizerFile as register,
  tokenizerRegistrations,
} from './registry.js';

// Public tokenizer API. Sync calls are exact and run on the caller's thread. The async calls are the hot-path entry:
// prompts up to `syncLimitChars` are counted inline (≈1-3 ms), bigger ones in a worker thread so the event loop stays
// responsive; if the worker cannot answer within `workerTimeoutMs` (or too many jobs are queued), `estimateTokens`
// answers instead.

export { encodingFor, tokenizerRegistrations };
export type { Encoding } from './types.js';
export type { TokenizerRegistration } from './registry.js';

export interface TokenizerOptions {
  /** Prompts longer than this (UTF-16 code units) are counted off the event loop. */
  syncLimitChars: number;
  workerTimeoutMs: number;
  /** Jobs waiting for the worker beyond this are estimated instead. */
  maxQueued: number;
}

const options: TokenizerOptions = { syncLimitChars: 8192, workerTimeoutMs: 2000, maxQueued: 64 };
const worker = new TokenizerWorker(tokenizerRegistrations, () => ({
  timeoutMs: options.workerTimeoutMs,
  maxQueued: options.maxQueued,
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

export async function countTokensAsync(model: string, text: string): Promise<number> {
  if (text.length <= options.syncLimitChars) return countTokens(model, text);
  const n = await worker.run('count', model, text);
  return typeof n === 'number' ? n : estimateTokens(text);
}

/** Token ids off the event loop for big texts; `undefined` when the worker could not answer in time. */
export async function tokenizeAsync(model: string, text: string): Promise<number[] | undefined> {
  if (text.length <= options.syncLimitChars) return tokenize(model, text);
  const ids = await worker.run('tokenize', model, text);
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
  await Promise.all(models.map((m) => worker.run('count', m, '')));
}

/** Stops the worker thread (graceful shutdown). */
export function closeTokenizer(): Promise<void> {
  return worker.stop();
}
