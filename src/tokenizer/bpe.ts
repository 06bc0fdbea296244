// Byte-pair-encoding merge loop shared by the tiktoken and Hugging Face loaders.
//
// A piece starts as one symbol per byte; the adjacent pair with the lowest merge rank is merged until no pair can be
// (ties: leftmost first). Candidate pairs live in a binary min-heap keyed by (rank, position), so a piece of n bytes
// costs O(n log n) instead of the O(n^2)-per-merge scan used by js-tiktoken, which lets one 100 KB run of letters
// stall the process for minutes.

/** Packed merge result: `rank * MERGE_SHIFT + mergedId`, or -1 when the pair does not merge. */
export const MERGE_SHIFT = 2 ** 21;
/** Positions are packed below the rank in heap keys, so one piece may hold at most this many bytes. */
export const MAX_PIECE_BYTES = 2 ** 24;

export type PairRank = (left: number, right: number) => number;

/** Merges `ids` (initial symbols, one per byte) and returns the final token ids. */
export function bpeMerge(ids: number[], pairRank: PairRank): number[] {
  const n = ids.length;
  if (n < 2) return ids.slice();
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
