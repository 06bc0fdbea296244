// The paged KV cache: N blocks of B tokens, ref-counted, with prefix caching. A full block that has been computed
// is registered under its chained hash; when its last user releases it, it stays cached (and reusable by a later
// request with the same prefix) while sitting in the free pool. Allocation takes blocks from the front of the free
// pool, least recently released first, evicting whatever prefix they held — the LRU policy vLLM uses.

const NO_HASH = -1;

export class KvCache {
  private readonly refs: Int32Array;
  private readonly hashes: Float64Array;
  private readonly byHash = new Map<number, number>();
  // Unreferenced blocks in eviction order; a Map keeps insertion order and deletes in O(1).
  private readonly free = new Map<number, true>();

  /** Called when a cached block loses its prefix hash (evicted for reuse): the KV-event publisher listens. */
  onEvict: ((block: number) => void) | undefined;

  constructor(
    readonly numBlocks: number,
    readonly blockSize: number,
  ) {
    if (!Number.isInteger(numBlocks) || numBlocks < 1) throw new RangeError('numBlocks must be a positive integer');
    if (!Number.isInteger(blockSize) || blockSize < 1) throw new RangeError('blockSize must be a positive integer');
    this.refs = new Int32Array(numBlocks);
    this.hashes = new Float64Array(numBlocks).fill(NO_HASH);
    for (let id = 0; id < numBlocks; id++) this.free.set(id, true);
  }

  /** Blocks that can be handed out now (empty or holding an evictable cached prefix). */
  get numFree(): number {
    return this.free.size;
  }

  /** Blocks currently registered under a prefix hash (referenced or not). */
  get numCached(): number {
    return this.byHash.size;
  }

  /** Fraction of blocks referenced by requests, 0..1 (cached-but-free blocks count as free, as in vLLM). */
  usage(): number {
    return 1 - this.free.size / this.numBlocks;
  }

  refCount(block: number): number {
    return this.refs[block]!;
  }

  isCached(hash: number): boolean {
    return this.byHash.has(hash);
  }

  /** The cached blocks matching the leading `hashes`, stopping at the first miss; touches nothing. */
  matchPrefix(hashes: readonly number[], maxBlocks: number = hashes.length): number[] {
    const hit: number[] = [];
    const n = Math.min(maxBlocks, hashes.length);
    for (let i = 0; i < n; i++) {
      const block = this.byHash.get(hashes[i]!);
      if (block === undefined) break;
      hit.push(block);
    }
    return hit;
  }

  /** How many of `blocks` are unreferenced, i.e. would leave the free pool when touched. */
  countUnreferenced(blocks: readonly number[]): number {
    let n = 0;
    for (const b of blocks) if (this.refs[b] === 0) n++;
    return n;
  }

  /** Takes a reference on cached blocks found by matchPrefix. */
  touch(blocks: readonly number[]): void {
    for (const b of blocks) {
      if (this.refs[b] === 0) this.free.delete(b);
      this.refs[b]!++;
    }
  }

  /** Hands out `n` blocks with one reference each, evicting their cached prefixes; null if not enough are free. */
  allocate(n: number): number[] | null {
    if (n > this.free.size) return null;
    const out: number[] = [];
    for (const b of this.free.keys()) {
      if (out.length === n) break;
      out.push(b);
    }
    for (const b of out) {
      this.free.delete(b);
      this.evictHash(b);
      this.refs[b] = 1;
    }
    return out;
  }

  /**
   * Drops one reference from each block. Blocks reaching zero join the free pool in reverse order, so a request's
   * tail blocks (the least shared part of its prefix) are evicted before its head blocks.
   */
  release(blocks: readonly number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i]!;
      if (this.refs[b]! <= 0) throw new Error(`block ${b} released more often than referenced`);
      if (--this.refs[b]! === 0) this.free.set(b, true);
    }
  }

  /** Registers a computed full block under its prefix hash; an already cached duplicate stays unregistered (false). */
  register(block: number, hash: number): boolean {
    if (this.hashes[block] !== NO_HASH || this.byHash.has(hash)) return false;
    this.hashes[block] = hash;
    this.byHash.set(hash, block);
    return true;
  }

  private evictHash(block: number): void {
    const hash = this.hashes[block]!;
    if (hash === NO_HASH) return;
    this.hashes[block] = NO_HASH;
    if (this.byHash.get(hash) === block) this.byHash.delete(hash);
    this.onEvict?.(block);
  }
}
