import { fnv1a, mix32 } from './hash.js';

// Chained block hashes for prefix caching: block i's hash covers the tokens of blocks 0..i and the request's
// extra key (its LoRA adapter, whose KV differs from the base model's), so two requests share a block hash only if
// they share the whole prefix up to and including that block. Hashes are 53-bit integers (two 32-bit lanes), safe
// as Map keys; collisions are negligible at simulator scale.

const LOW = 2 ** 21;

/** Root of the chain: distinct per adapter, and for the base model. */
export function chainRoot(lora: string | null): number {
  return lora === null ? 0 : fnv1a(`lora:${lora}`) * LOW;
}

function hashBlock(parent: number, tokens: ArrayLike<number>, start: number, end: number): number {
  let a = Math.floor(parent / LOW) ^ 0x9e3779b9;
  let b = (parent % LOW) ^ 0x7f4a7c15;
  for (let i = start; i < end; i++) {
    const t = tokens[i]!;
    a = Math.imul(a ^ t, 0x01000193);
    b = Math.imul(b ^ t, 0x5bd1e995);
    b ^= b >>> 15;
  }
  const hi = mix32(a);
  const lo = mix32(b ^ hi);
  return hi * LOW + (lo >>> 11);
}

/** Appends the hashes of the full blocks of `tokens` that `hashes` does not hold yet. */
export function extendBlockHashes(
  hashes: number[],
  tokens: ArrayLike<number>,
  blockSize: number,
  root: number,
): void {
  const full = Math.floor(tokens.length / blockSize);
  for (let b = hashes.length; b < full; b++) {
    const parent = b === 0 ? root : hashes[b - 1]!;
    hashes.push(hashBlock(parent, tokens, b * blockSize, (b + 1) * blockSize));
  }
}

/** A digest of a whole token sequence (seeds the output text of a request). */
export function digestTokens(tokens: ArrayLike<number>): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < tokens.length; i++) h = Math.imul(h ^ tokens[i]!, 0x01000193);
  return mix32(h ^ tokens.length);
}
