// Fast non-cryptographic hashing for prefix indexes. A hash is a 53-bit integer built from two 32-bit lanes (an
// FNV-1a lane and a multiply-xorshift lane, each finished with MurmurHash3's fmix32), so it is a plain JS number: a
// cheap Map key, exact in a double, and collisions stay negligible at index sizes (2^-53 per pair). Strings are
// hashed over their UTF-16 code units in place: no per-block substring or byte buffer is allocated.

const TWO_32 = 2 ** 32;

function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

function finish(a: number, b: number, length: number): number {
  const hi = fmix32(a ^ length);
  const lo = fmix32(b ^ hi);
  return (hi >>> 11) * TWO_32 + lo;
}

/** Hash of `text[start, end)` chained onto `seed` (a previous hash, or 0). */
export function hashChars(text: string, start: number, end: number, seed: number): number {
  let a = (Math.floor(seed / TWO_32) ^ 0x811c9dc5) | 0;
  let b = ((seed >>> 0) ^ 0x9e3779b9) | 0;
  // Two UTF-16 code units per step: about twice as fast as one, and reading the string is the bottleneck.
  const pairs = start + ((end - start) & ~1);
  let i = start;
  for (; i < pairs; i += 2) {
    const c = text.charCodeAt(i) | (text.charCodeAt(i + 1) << 16);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
    b ^= b >>> 15;
  }
  if (i < end) {
    const c = text.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995);
  }
  return finish(a, b, end - start);
}

/** Hash of `tokens[start, end)` chained onto `seed`. */
export function hashTokens(tokens: ArrayLike<number>, start: number, end: number, seed: number): number {
  let a = (Math.floor(seed / TWO_32) ^ 0x811c9dc5) | 0;
  let b = ((seed >>> 0) ^ 0x9e3779b9) | 0;
  for (let i = start; i < end; i++) {
    const t = tokens[i]! | 0;
    a = Math.imul(a ^ t, 0x01000193);
    b = Math.imul(b ^ (t >>> 16) ^ (t << 5), 0x5bd1e995);
    b ^= b >>> 15;
  }
  return finish(a, b, end - start);
}

/** Root of a hash chain: requests of different routing groups or models never share a block hash. */
export function chainRoot(group: string, model: string): number {
  const key = `${group}\u0000${model}`;
  return hashChars(key, 0, key.length, 0);
}

/**
 * Chained hashes of `text` in blocks of `blockSize` characters, at most `maxBlocks`; the last block may be partial.
 * Block i's hash covers blocks 0..i, so two prompts share hash i exactly when they share that whole prefix.
 */
export function charBlockHashes(text: string, blockSize: number, maxBlocks: number, root: number): number[] {
  const n = Math.min(maxBlocks, Math.ceil(text.length / blockSize));
  const out = new Array<number>(n);
  let h = root;
  for (let i = 0; i < n; i++) {
    const start = i * blockSize;
    h = hashChars(text, start, Math.min(text.length, start + blockSize), h);
    out[i] = h;
  }
  return out;
}

/** Chained hashes of the full blocks of `tokens` (an engine caches only full blocks), at most `maxBlocks`. */
export function tokenBlockHashes(tokens: ArrayLike<number>, blockSize: number, maxBlocks: number, root: number): number[] {
  const n = Math.min(maxBlocks, Math.floor(tokens.length / blockSize));
  const out = new Array<number>(n);
  let h = root;
  for (let i = 0; i < n; i++) {
    h = hashTokens(tokens, i * blockSize, (i + 1) * blockSize, h);
    out[i] = h;
  }
  return out;
}
