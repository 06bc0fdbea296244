/** One endpoint's modelled cache: block hash → KV blocks it stands for, oldest first (Map insertion order). */
interface Held {
  blocks: Map<number, number>;
  total: number;
}

/**
 * Per-endpoint model of an engine's prefix cache: the chained token-block hashes each endpoint holds, bounded by that
 * endpoint's KV capacity in blocks and evicting the least recently used (vLLM also evicts least recently used free
 * blocks). Blocks are touched last-to-first so that a prefix's head outlives its tail, as in the engine. Only a
 * prompt's first blocks are hashed; the last hashed block also stands for the prompt's unhashed tail, so that long
 * prompts use up capacity as they do in the engine.
 */
export class EndpointBlockIndex {
  private readonly byEndpoint = new Map<string, Held>();

  /** Leading blocks of `hashes` that `address` holds locally or, per `elsewhere`, in another router's view. */
  leadingBlocks(address: string, hashes: readonly number[], elsewhere?: (i: number, address: string) => boolean): number {
    const held = this.byEndpoint.get(address)?.blocks;
    let i = 0;
    while (i < hashes.length && (held?.has(hashes[i]!) || elsewhere?.(i, address))) i++;
    return i;
  }

  /**
   * Records that `address` holds `hashes` plus `tailBlocks` unhashed blocks after them, within `capacity` blocks;
   * returns the hashes it did not hold before.
   */
  add(address: string, hashes: readonly number[], capacity: number, tailBlocks = 0): number[] {
    let h = this.byEndpoint.get(address);
    if (!h) this.byEndpoint.set(address, (h = { blocks: new Map(), total: 0 }));
    const added: number[] = [];
    for (let i = hashes.length - 1; i >= 0; i--) {
      const hash = hashes[i]!;
      const prev = h.blocks.get(hash);
      const weight = Math.max(prev ?? 0, i === hashes.length - 1 ? 1 + tailBlocks : 1);
      if (prev === undefined) added.push(hash);
      else h.blocks.delete(hash);
      h.blocks.set(hash, weight);
      h.total += weight - (prev ?? 0);
    }
    for (const [hash, weight] of h.blocks) {
      if (h.total <= capacity) break;
      h.blocks.delete(hash);
      h.total -= weight;
    }
    return added;
  }

  retract(address: string, hashes: readonly number[]): void {
    const h = this.byEndpoint.get(address);
    if (!h) return;
    for (const hash of hashes) {
      const weight = h.blocks.get(hash);
      if (weight === undefined) continue;
      h.blocks.delete(hash);
      h.total -= weight;
    }
  }

  /** KV blocks modelled for `address` (for tests and metrics). */
  blocks(address: string): number {
    return this.byEndpoint.get(address)?.total ?? 0;
  }

  removeEndpoints(addresses: readonly string[]): void {
    for (const a of addresses) this.byEndpoint.delete(a);
  }
}
