import type { PrefillDecodeTarget } from '../../core/types.js';

/**
 * Which prefill/decode pair each attempt uses. An attempt that failed names the endpoint that failed (its prefill or
 * its decode endpoint); the next attempt takes the next pair in rank order that holds none of the endpoints failed so
 * far, or, when every pair holds one, simply the next pair (wrapping around, as the proxy retries a lone endpoint).
 */
export class PairPlan {
  private readonly failed = new Set<string>();
  private index = 0;

  constructor(private readonly pairs: readonly PrefillDecodeTarget[]) {
    if (pairs.length === 0) throw new RangeError('a prefill/decode plan needs at least one pair');
  }

  get current(): PrefillDecodeTarget {
    return this.pairs[this.index]!;
  }

  /** Records that `failedAddress` failed and moves to the pair for the next attempt. */
  advance(failedAddress: string): PrefillDecodeTarget {
    this.failed.add(failedAddress);
    const n = this.pairs.length;
    let next = (this.index + 1) % n;
    for (let step = 1; step <= n; step++) {
      const i = (this.index + step) % n;
      const p = this.pairs[i]!;
      if (!this.failed.has(p.prefill) && !this.failed.has(p.decode)) {
        next = i;
        break;
      }
    }
    this.index = next;
    return this.current;
  }
}
