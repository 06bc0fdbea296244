import { VllmBlockHasher, extraKeysFor, type VllmHashAlgo } from '../kv-events/vllm-hash.js';
import type { EncodedEvent } from './kv-event-publisher.js';
import type { SimRequest } from './sequence.js';

// The engine's KV-cache events, as vLLM's block pool emits them: BlockStored when full blocks enter the prefix
// cache (their vLLM block hashes, the parent block's hash, their token ids), BlockRemoved when a cached block is
// evicted for reuse. Block hashes are computed exactly as vLLM does (src/kv-events/vllm-hash.ts); the engine's own
// prefix cache keeps its fast internal hashes. Events of one engine step are published as one batch.

const GPU = 'GPU';

export interface EventSink {
  publish(events: readonly EncodedEvent[]): void;
}

export class KvEventRecorder {
  private readonly hasher: VllmBlockHasher;
  /** vLLM block hashes of each request's leading full blocks, extended as blocks fill. */
  private readonly digests = new WeakMap<SimRequest, Uint8Array[]>();
  /** Cache block id → the vLLM hash it is registered under. */
  private readonly byBlock = new Map<number, Uint8Array>();
  private events: EncodedEvent[] = [];

  constructor(
    private readonly sink: EventSink,
    algo: VllmHashAlgo,
    seed: string,
    private readonly blockSize: number,
    /** vLLM's lora_int_id per adapter name (1-based, in --lora order). */
    private readonly loraIds: ReadonlyMap<string, number>,
  ) {
    this.hasher = new VllmBlockHasher(algo, seed);
  }

  /** The request's blocks `indices` (ascending) were registered in the prefix cache as cache blocks `blockIds`. */
  stored(req: SimRequest, indices: readonly number[], blockIds: readonly number[]): void {
    const digests = this.extend(req, indices[indices.length - 1]! + 1);
    let start = 0;
    for (let i = 1; i <= indices.length; i++) {
      if (i < indices.length && indices[i] === indices[i - 1]! + 1) continue;
      // One BlockStored per contiguous run, as the block pool caches a request's new full blocks in one go.
      const from = indices[start]!;
      const to = indices[i - 1]! + 1;
      const { blockSize } = this;
      this.events.push([
        'BlockStored',
        digests.slice(from, to),
        from === 0 ? null : digests[from - 1]!,
        req.tokens.slice(from * blockSize, to * blockSize),
        blockSize,
        req.lora === null ? null : (this.loraIds.get(req.lora) ?? null),
        GPU,
        req.lora,
      ]);
      start = i;
    }
    for (let i = 0; i < indices.length; i++) this.byBlock.set(blockIds[i]!, digests[indices[i]!]!);
  }

  /** A cached block was evicted. */
  removed(blockId: number): void {
    const digest = this.byBlock.get(blockId);
    if (!digest) return;
    this.byBlock.delete(blockId);
    const last = this.events[this.events.length - 1];
    if (last?.[0] === 'BlockRemoved') (last[1] as Uint8Array[]).push(digest);
    else this.events.push(['BlockRemoved', [digest], GPU]);
  }

  /** Publishes the step's events as one batch. */
  flush(): void {
    if (this.events.length === 0) return;
    const events = this.events;
    this.events = [];
    this.sink.publish(events);
  }

  private extend(req: SimRequest, n: number): Uint8Array[] {
    let d = this.digests.get(req);
    if (!d) this.digests.set(req, (d = []));
    const extra = extraKeysFor(req.lora ?? undefined);
    for (let b = d.length; b < n; b++) {
      const tokens = req.tokens.slice(b * this.blockSize, (b + 1) * this.blockSize);
      d.push(this.hasher.hashBlock(b === 0 ? null : d[b - 1]!, tokens, extra));
    }
    return d;
  }
}
