import { LruMap } from './lru.js';

/**
 * Approximate prefix index shared by all endpoints: chained block hash → addresses of the endpoints believed to hold
 * that prefix. Bounded to `capacity` hashes, least recently used evicted first; because a prompt's blocks are
 * touched last-to-first, a prefix's head outlives its tail, so an eviction shortens a match instead of breaking it.
 */
export class PrefixIndex {
  private readonly owners: LruMap<number, Set<string>>;

  /**
   * `maxOwnersPerBlock` keeps the most recent owners of a block only: a prefix believed to sit on more pods than that
   * is effectively everywhere, and the bound keeps a match over 1,000 endpoints cheap.
   */
  constructor(
    capacity: number,
    private readonly maxOwnersPerBlock = 16,
  ) {
    this.owners = new LruMap(capacity);
  }

  get size(): number {
    return this.owners.size;
  }

  /**
   * For every endpoint that holds the first block, the number of leading blocks it holds (at least 1). Callers pick
   * their candidates out of the result: it has at most maxOwnersPerBlock entries.
   */
  match(hashes: readonly number[]): Map<string, number> {
    const matched = new Map<string, number>();
    if (hashes.length === 0) return matched;
    let active = [...(this.owners.peek(hashes[0]!) ?? [])];
    for (let i = 1; i < hashes.length && active.length > 0; i++) {
      const owners = this.owners.peek(hashes[i]!);
      const next: string[] = [];
      for (const a of active) {
        if (owners?.has(a)) next.push(a);
        else matched.set(a, i);
      }
      active = next;
    }
    for (const a of active) matched.set(a, hashes.length);
    return matched;
  }

  /** Records that `address` holds every block of `hashes`; returns the hashes it did not hold before. */
  add(hashes: readonly number[], address: string): number[] {
    const added: number[] = [];
    for (let i = hashes.length - 1; i >= 0; i--) {
      const h = hashes[i]!;
      let set = this.owners.get(h);
      if (!set) {
        set = new Set();
        this.owners.set(h, set);
      }
      if (set.has(address)) {
        set.delete(address); // re-inserted below: insertion order is recency
        set.add(address);
      } else {
        set.add(address);
        added.push(h);
        if (set.size > this.maxOwnersPerBlock) set.delete(set.values().next().value!);
      }
    }
    return added;
  }

  /** Withdraws a claim made by `add` (the endpoint did not serve the request after all). */
  retract(hashes: readonly number[], address: string): void {
    for (const h of hashes) {
      const set = this.owners.peek(h);
      if (!set) continue;
      set.delete(address);
      if (set.size === 0) this.owners.delete(h);
    }
  }

  /** Forgets endpoints that are gone; a full scan, acceptable for a rare event. */
  removeEndpoints(addresses: readonly string[]): void {
    const gone: number[] = [];
    for (const [h, set] of this.owners.entries()) {
      for (const a of addresses) set.delete(a);
      if (set.size === 0) gone.push(h);
    }
    for (const h of gone) this.owners.delete(h);
  }
}
