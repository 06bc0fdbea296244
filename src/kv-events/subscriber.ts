import { Dealer, Subscriber } from 'zeromq';
import { logger } from '../observability/logger.js';
import { decodeEventBatch } from './events.js';
import { kvEventBatches, kvEventDecodeErrors, kvEventReplays, kvEventResets } from './metrics.js';
import type { PodBlocks } from './pod-blocks.js';

// One pod's KV-event subscription, against vLLM's ZmqEventPublisher: a PUB socket sending [topic, seq (8-byte
// big-endian), msgpack KVEventBatch] and, when replay_endpoint is set, a ROUTER socket that answers a request
// [empty, start seq (8-byte big-endian)] with one [empty, seq, payload] per buffered batch from `start` on, then
// [empty, -1, empty]. ZeroMQ reconnects the SUB socket itself, backing off from reconnectMs to reconnectMaxMs.
// Sequence numbers keep the view exact across those reconnects: a gap is filled by a replay; when the publisher
// no longer holds the missing batches (or has no replay socket) the view is cleared and rebuilt from what follows;
// a sequence number going backwards means the engine restarted with an empty cache, which clears the view too.

export interface SubscriberOptions {
  /** tcp://ip:port of the engine's PUB socket. */
  endpoint: string;
  /** tcp://ip:port of its replay (ROUTER) socket, if it has one. */
  replayEndpoint?: string;
  /** Topic prefix to subscribe to ("" = every topic, vLLM's default topic is ""). */
  topic: string;
  reconnectMs: number;
  reconnectMaxMs: number;
  /** Longest wait for each replay message before the replay is given up. */
  replayTimeoutMs: number;
  /** Live batches held while a replay runs; beyond it they are dropped, and the next gap replays again. */
  maxPendingBatches: number;
}

type Batch = [seq: number, payload: Uint8Array];

const END_SEQ = -1;

export class PodSubscriber {
  private readonly sub: Subscriber;
  private lastSeq = -1;
  private replay: { pending: Batch[] } | undefined;
  private closed = false;
  private up = false;

  constructor(
    /** Endpoint address (ip:port) the subscription serves: the metrics' label. */
    private readonly address: string,
    private readonly o: SubscriberOptions,
    private readonly blocks: PodBlocks,
    private readonly onState: (connected: boolean) => void,
  ) {
    this.sub = new Subscriber({ reconnectInterval: o.reconnectMs, reconnectMaxInterval: o.reconnectMaxMs, linger: 0 });
    this.sub.events.on('handshake', () => {
      this.setUp(true);
      // A new subscriber (router start, new pod) asks for the history still buffered, without waiting for the
      // engine's next batch: an idle engine's cache is known from the start, and replicas agree at once.
      if (this.lastSeq < 0 && !this.replay && this.o.replayEndpoint) this.startReplay(0, undefined);
    });
    this.sub.events.on('disconnect', () => this.setUp(false));
    this.sub.subscribe(o.topic);
    this.sub.connect(o.endpoint);
    void this.run();
  }

  /** True while the SUB socket is connected to a publisher. */
  get connected(): boolean {
    return this.up;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.sub.close();
  }

  private setUp(up: boolean): void {
    if (this.up === up || this.closed) return;
    this.up = up;
    this.onState(up);
  }

  private async run(): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await this.sub.receive();
      } catch (err) {
        if (this.closed) return;
        logger.warn({ endpoint: this.address, err: String(err) }, 'kv-events: receive failed');
        continue;
      }
      if (frames.length !== 3 || frames[1]!.length !== 8) {
        kvEventDecodeErrors.inc({ endpoint: this.address });
        continue;
      }
      this.receive(Number(frames[1]!.readBigInt64BE()), frames[2]!);
    }
  }

  private receive(seq: number, payload: Uint8Array): void {
    if (this.replay) {
      if (this.replay.pending.length < this.o.maxPendingBatches) this.replay.pending.push([seq, payload]);
    } else {
      this.accept(seq, payload);
    }
  }

  private accept(seq: number, payload: Uint8Array): void {
    if (this.lastSeq >= 0 && seq <= this.lastSeq) {
      this.reset('publisher-restarted');
      this.lastSeq = -1;
    }
    const expected = this.lastSeq + 1;
    if (seq > expected) {
      // A gap, or batches published before we joined (seq > 0 on the first message): replay them if possible.
      if (this.o.replayEndpoint) {
        this.startReplay(expected, [seq, payload]);
        return;
      }
      if (this.lastSeq >= 0) this.reset('gap-without-replay');
    }
    this.applyBatch(seq, payload);
  }

  private applyBatch(seq: number, payload: Uint8Array): void {
    this.lastSeq = seq;
    try {
      this.blocks.apply(decodeEventBatch(payload));
      kvEventBatches.inc({ endpoint: this.address });
    } catch (err) {
      // A batch we cannot read leaves the view unknown: start over from what follows.
      kvEventDecodeErrors.inc({ endpoint: this.address });
      logger.warn({ endpoint: this.address, seq, err: String(err) }, 'kv-events: undecodable batch; view cleared');
      this.reset('undecodable');
    }
  }

  private startReplay(from: number, live: Batch | undefined): void {
    const replay = { pending: live ? [live] : [] };
    this.replay = replay;
    void this.fetchReplay(from).then((got) => {
      this.replay = undefined;
      if (this.closed) return;
      // An empty answer from the start means nothing was published yet (the buffer only drops its oldest batches).
      const complete = got !== undefined && (got.length === 0 ? from === 0 : got[0]![0] <= from);
      kvEventReplays.inc({ endpoint: this.address, result: got === undefined ? 'failed' : complete ? 'complete' : 'incomplete' });
      // Joining late with an incomplete history is not a reset: there was no view to lose.
      if (!complete && this.lastSeq >= 0) this.reset(got === undefined ? 'replay-failed' : 'replay-incomplete');
      for (const [s, p] of got ?? []) if (s > this.lastSeq) this.applyBatch(s, p);
      // A hole the replay could not fill stays a hole (the view was cleared for it): carry on after it, never
      // asking again for what the publisher does not have.
      const next = replay.pending[0]?.[0];
      if (next !== undefined && next > this.lastSeq + 1) {
        if (complete && this.lastSeq >= 0) this.reset('replay-incomplete');
        this.lastSeq = next - 1;
      }
      // Live batches that arrived meanwhile; one of them may open another gap, whose replay then holds the rest.
      for (const [s, p] of replay.pending) if (s > this.lastSeq) this.receive(s, p);
    });
  }

  /** The batches from `from` on, in order; undefined when the replay socket did not answer in time. */
  private async fetchReplay(from: number): Promise<Batch[] | undefined> {
    const t = this.o.replayTimeoutMs;
    const dealer = new Dealer({ linger: 0, receiveTimeout: t, sendTimeout: t });
    try {
      dealer.connect(this.o.replayEndpoint!);
      const start = Buffer.alloc(8);
      start.writeBigInt64BE(BigInt(from));
      await dealer.send([Buffer.alloc(0), start]);
      const out: Batch[] = [];
      for (;;) {
        const frames = await dealer.receive();
        if (frames.length !== 3 || frames[1]!.length !== 8) return undefined;
        const seq = Number(frames[1]!.readBigInt64BE());
        if (seq === END_SEQ) return out;
        out.push([seq, frames[2]!]);
      }
    } catch (err) {
      if (!this.closed) logger.warn({ endpoint: this.address, from, err: String(err) }, 'kv-events: replay failed');
      return undefined;
    } finally {
      dealer.close();
    }
  }

  private reset(reason: string): void {
    kvEventResets.inc({ endpoint: this.address, reason });
    logger.info({ endpoint: this.address, reason }, 'kv-events: block view cleared');
    this.blocks.clear();
  }
}
