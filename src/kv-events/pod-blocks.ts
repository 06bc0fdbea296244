import type { BlockKey } from './block-key.js';
import type { KvEventBatch } from './events.js';

/** The medium of the engine's own (GPU) cache; blocks offloaded to another tier do not make a prefill free. */
const GPU = 'GPU';

/**
 * The blocks one pod's engine holds, as its events say. Bounded by `maxBlocks` (oldest stored first out) so a
 * publisher that never reports removals cannot grow it without limit.
 */
export class PodBlocks {
  private readonly blocks = new Set<BlockKey>();
  /** A BlockStored block size other than the one we hash with, once seen (the pod's hashes can never match ours). */
  mismatchedBlockSize: number | undefined;

  constructor(
    private readonly blockSize: number,
    private readonly maxBlocks: number,
  ) {}

  get size(): number {
    return this.blocks.size;
  }

  has(key: BlockKey): boolean {
    return this.blocks.has(key);
  }

  apply(batch: KvEventBatch): void {
    for (const e of batch.events) {
      if (e.type === 'AllBlocksCleared') this.blocks.clear();
      else if (e.medium !== null && e.medium !== GPU) continue;
      else if (e.type === 'BlockRemoved') for (const k of e.blockHashes) this.blocks.delete(k);
      else {
        if (e.blockSize !== this.blockSize) this.mismatchedBlockSize = e.blockSize;
        for (const k of e.blockHashes) {
          this.blocks.delete(k); // re-stored: now the newest
          this.blocks.add(k);
        }
        this.trim();
      }
    }
  }

  clear(): void {
    this.blocks.clear();
  }

  private trim(): void {
    if (this.blocks.size <= this.maxBlocks) return;
    for (const k of this.blocks) {
      this.blocks.delete(k);
      if (this.blocks.size <= this.maxBlocks) return;
    }
  }
}
