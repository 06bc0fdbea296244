import { logger } from '../observability/logger.js';
import type { BlockKey } from './block-key.js';
import { registerPodViewSource } from './metrics.js';
import { PodBlocks } from './pod-blocks.js';
import { PodSubscriber, type SubscriberOptions } from './subscriber.js';

export interface FleetOptions extends Omit<SubscriberOptions, 'endpoint' | 'replayEndpoint'> {
  /** Port of every pod's PUB socket (vLLM's --kv-events-config endpoint; its default is tcp://*:5557). */
  eventsPort: number;
  /** Port of every pod's replay socket (replay_endpoint; vLLM has none by default). */
  replayPort?: number;
  /** Tokens per block the router hashes with: the engines' --block-size. */
  blockSize: number;
  maxBlocksPerPod: number;
}

interface Pod {
  sub: PodSubscriber;
  blocks: PodBlocks;
  warnedBlockSize?: boolean;
}

/**
 * The KV-cache view of a fleet: one subscription per endpoint, opened when the endpoint is first scored and closed
 * when it leaves. An endpoint is precise while its subscription is connected; otherwise (nothing publishes on its
 * events port, or the connection dropped) its caller falls back to the approximate index, which a log line and
 * the kthena_router_kv_events_precise gauge make visible.
 */
export class KvEventsFleet {
  private readonly pods = new Map<string, Pod>();

  constructor(private readonly o: FleetOptions) {
    registerPodViewSource(this);
  }

  /** Subscribes to the endpoint's events if not yet done; true when its events drive scoring now. */
  ensure(address: string, ip: string): boolean {
    let pod = this.pods.get(address);
    if (!pod) {
      const host = ip.includes(':') ? `[${ip}]` : ip;
      const blocks = new PodBlocks(this.o.blockSize, this.o.maxBlocksPerPod);
      const sub = new PodSubscriber(
        address,
        {
          ...this.o,
          endpoint: `tcp://${host}:${this.o.eventsPort}`,
          replayEndpoint: this.o.replayPort === undefined ? undefined : `tcp://${host}:${this.o.replayPort}`,
        },
        blocks,
        (up) =>
          logger.info(
            { endpoint: address, events: `tcp://${host}:${this.o.eventsPort}` },
            up ? 'kv-events: subscribed; prefix scoring is precise for this endpoint' : 'kv-events: publisher lost; this endpoint falls back to the approximate prefix index',
          ),
      );
      this.pods.set(address, (pod = { sub, blocks }));
    }
    return this.isPrecise(address);
  }

  isPrecise(address: string): boolean {
    const pod = this.pods.get(address);
    if (!pod?.sub.connected) return false;
    const mismatch = pod.blocks.mismatchedBlockSize;
    if (mismatch === undefined) return true;
    if (!pod.warnedBlockSize) {
      pod.warnedBlockSize = true;
      logger.warn(
        { endpoint: address, engineBlockSize: mismatch, blockSize: this.o.blockSize },
        'kv-events: the engine stores blocks of another size than blockSize; this endpoint falls back to the approximate prefix index',
      );
    }
    return false;
  }

  /** How many of `keys` (a prompt's chained block hashes) the endpoint holds from the first one on. */
  leadingBlocks(address: string, keys: readonly BlockKey[], pending?: (key: BlockKey) => boolean): number {
    const blocks = this.pods.get(address)?.blocks;
    let i = 0;
    while (i < keys.length && (blocks?.has(keys[i]!) || pending?.(keys[i]!))) i++;
    return i;
  }

  /** Blocks the endpoint is known to hold (tests, metrics). */
  blocks(address: string): number {
    return this.pods.get(address)?.blocks.size ?? 0;
  }

  remove(addresses: readonly string[]): void {
    for (const a of addresses) {
      this.pods.get(a)?.sub.close();
      this.pods.delete(a);
    }
  }

  *podViews(): Iterable<[string, boolean, number]> {
    for (const [address, pod] of this.pods) yield [address, this.isPrecise(address), pod.blocks.size];
  }

  close(): void {
    this.remove([...this.pods.keys()]);
  }
}
