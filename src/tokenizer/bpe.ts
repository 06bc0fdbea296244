// Byte-pair-encoding merge loop shared by the tiktoken and Hugging Face loaders.
//
// A piece starts as one symbol per byte; the adjacent pair with the lowest merge rank is merged until no pair can be
// (ties: leftmost first). Short pieces (nearly every word) use a plain scan, which allocates little; longer ones keep
// candidate pairs in a binary min-heap keyed by (rank, position), O(n log n). Pieces longer than
// MAX_EXACT_PIECE_BYTES are never merged whole: counting estimates them and encoding merges them window by window,
// so the work is linear in the text whatever its shape (one 8 MB word used to cost ~20 s of CPU).

/** Packed merge result: `rank * MERGE_SHIFT + mergedId`, or -1 when the pair does not merge. */
export const MERGE_SHIFT = 2 ** 21;
/** Positions are packed below the rank in heap keys, so one piece may hold at most this many bytes. */
export const MAX_PIECE_BYTES = 2 ** 24;

/**
 * Longest pre-tokenizer piece merged exactly. Natural text has no piece near it (words, numbers in groups of three,
 * punctuation runs, indentation); what is longer is a run of one class of characters (a huge "word", a long run of
 * symbols or spaces) that only an unusual or hostile prompt contains.
 */
export const MAX_EXACT_PIECE_BYTES = 512;
/** Below this a scan beats the heap's bookkeeping. */
const SCAN_MAX_BYTES = 32;

export type PairRank = (left: number, right: number) => number;

/**
 * Token count of a piece too long to merge: one token per 3 bytes, the conservative rate `estimateTokens` uses for a
 * whole prompt (long runs usually merge far better, so this errs toward charging more, never less, on rate limits).
 */
export function estimatePieceTokens(bytes: number): number {
  return Math.ceil(bytes / 3);
}

/** Like `bpeMerge`, but a piece longer than MAX_EXACT_PIECE_BYTES is merged in windows of that size. */
export function bpeMergeBounded(ids: number[], pairRank: PairRank): number[] {
  if (ids.length <= MAX_EXACT_PIECE_BYTES) return bpeMerge(ids, pairRank);
  const out: number[] = [];
  for (let i = 0; i < ids.length; i += MAX_EXACT_PIECE_BYTES) {
    for (const id of bpeMerge(ids.slice(i, i + MAX_EXACT_PIECE_BYTES), pairRank)) out.push(id);
  }
  return out;
}

/** Merges `ids` (initial symbols, one per byte) and returns the final token ids. */
export function bpeMerge(ids: number[], pairRank: PairRank): number[] {
  const n = ids.length;
  if (n < 2) return ids.slice();
  if (n <= SCAN_MAX_BYTES) return scanMerge(ids, pairRank);
  if (n > MAX_PIECE_BYTES) throw new RangeError('piece too long for BPE');
  const id = Int32Array.from(ids);
  const next = new Int32Array(n);
  const prev = new Int32Array(n);
  // version[pos] changes whenever the pair starting at pos changes, which invalidates queued entries for it.
  const version = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    next[i] = i + 1 < n ? i + 1 : -1;
    prev[i] = i - 1;
  }
  const heap = new PairHeap();
  const push = (pos: number): void => {
    const right = next[pos]!;
    if (right < 0) return;
    const packed = pairRank(id[pos]!, id[right]!);
    if (packed >= 0) heap.push(Math.floor(packed / MERGE_SHIFT) * MAX_PIECE_BYTES + pos, version[pos]!, packed % MERGE_SHIFT);
  };
  for (let i = 0; i + 1 < n; i++) push(i);

  while (heap.size > 0) {
    const pos = heap.topKey % MAX_PIECE_BYTES;
    const stamp = heap.topStamp;
    const merged = heap.topMerged;
    heap.pop();
    if (version[pos] !== stamp) continue;
    const r = next[pos]!;
    id[pos] = merged;
    const rr = next[r]!;
    next[pos] = rr;
    if (rr >= 0) prev[rr] = pos;
    version[pos]++;
    version[r]++; // r is gone: its queued pair must not fire
    const p = prev[pos]!;
    if (p >= 0) {
      version[p]++;
      push(p);
    }
    push(pos);
  }
  const out: number[] = [];
  for (let i = 0; i >= 0; i = next[i]!) out.push(id[i]!);
  return out;
}

/** The same merges as the heap loop, by scanning for the lowest packed rank (leftmost on ties) after each merge. */
function scanMerge(ids: number[], pairRank: PairRank): number[] {
  const parts = ids.slice();
  const ranks: number[] = new Array(parts.length - 1);
  for (let i = 0; i + 1 < parts.length; i++) ranks[i] = pairRank(parts[i]!, parts[i + 1]!);
  for (;;) {
    let best = -1;
    for (let i = 0; i < ranks.length; i++) {
      const r = ranks[i]!;
      // Equal packed values mean the same merge, so `<` keeps the leftmost, as the heap's (rank, position) key does.
      if (r >= 0 && (best < 0 || r < ranks[best]!)) best = i;
    }
    if (best < 0) return parts;
    parts[best] = ranks[best]! % MERGE_SHIFT;
    parts.splice(best + 1, 1);
    ranks.splice(best, 1);
    if (best > 0) ranks[best - 1] = pairRank(parts[best - 1]!, parts[best]!);
    if (best < ranks.length) ranks[best] = pairRank(parts[best]!, parts[best + 1]!);
  }
}

/** Min-heap of (key, stamp, merged) triples kept in parallel arrays to avoid allocating per entry. */
class PairHeap {
  private keys: number[] = [];
  private stamps: number[] = [];
  private mergeds: number[] = [];

  get size(): number {
    return this.keys.length;
  }
  get topKey(): number {
    return this.keys[0]!;
  }
  get topStamp(): number {
    return this.stamps[0]!;
  }
  get topMerged(): number {
    return this.mergeds[0]!;
  }

  push(key: number, stamp: number, merged: number): void {
    const { keys, stamps, mergeds } = this;
    let i = keys.length;
    keys.push(key);
    stamps.push(stamp);
    mergeds.push(merged);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (keys[parent]! <= key) break;
      keys[i] = keys[parent]!;
      stamps[i] = stamps[parent]!;
      mergeds[i] = mergeds[parent]!;
      i = parent;
    }
    keys[i] = key;
    stamps[i] = stamp;
    mergeds[i] = merged;
  }

  pop(): void {
    const { keys, stamps, mergeds } = this;
    const key = keys.pop()!;
    const stamp = stamps.pop()!;
    const merged = mergeds.pop()!;
    const n = keys.length;
    if (n === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= n) break;
      const c = l + 1 < n && keys[l + 1]! < keys[l]! ? l + 1 : l;
      if (keys[c]! >= key) break;
      keys[i] = keys[c]!;
      stamps[i] = stamps[c]!;
      mergeds[i] = mergeds[c]!;
      i = c;
    }
    keys[i] = key;
    stamps[i] = stamp;
    mergeds[i] = merged;
  }
}
