import { encode } from '@msgpack/msgpack';
import { Publisher, Router } from 'zeromq';
import type { KvEventsConfig } from './kv-events-config.js';

// vLLM's ZmqEventPublisher, as the simulator's engine uses it: every batch goes out on the PUB socket as
// [topic, seq (8-byte big-endian), msgpack payload] and is kept (the last bufferSteps of them) for the ROUTER replay
// socket, which answers [identity, empty, start seq] with [identity, empty, seq, payload] for every buffered batch
// from start on, then [identity, empty, -1, empty].

/** One event as msgspec encodes an array-like tagged struct: [tag, ...fields]. */
export type EncodedEvent = readonly unknown[];

const END_SEQ = Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

export class KvEventPublisher {
  private seq = 0;
  private readonly buffer: Array<[Buffer, Uint8Array]> = [];
  private readonly topic: Buffer;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;

  private constructor(
    private readonly c: KvEventsConfig,
    private readonly pub: Publisher,
    private readonly replay: Router | undefined,
  ) {
    this.topic = Buffer.from(c.topic, 'utf8');
    if (replay) void this.serveReplays(replay);
  }

  /** Binds the sockets; `host` replaces a wildcard host in the configured endpoints. */
  static async start(c: KvEventsConfig, host: string): Promise<KvEventPublisher> {
    const bindable = (e: string) => e.replace('://*:', `://${host.includes(':') ? `[${host}]` : host}:`);
    const pub = new Publisher({ sendHighWaterMark: c.hwm, linger: 0 });
    let replay: Router | undefined;
    try {
      await pub.bind(bindable(c.endpoint));
      if (c.replayEndpoint) {
        replay = new Router({ linger: 0 });
        await replay.bind(bindable(c.replayEndpoint));
      }
    } catch (err) {
      pub.close();
      replay?.close();
      throw err;
    }
    return new KvEventPublisher(c, pub, replay);
  }

  /** Publishes one KVEventBatch: [ts, events] (array-like, as vLLM's structs encode). */
  publish(events: readonly EncodedEvent[]): void {
    if (this.closed || events.length === 0) return;
    const seq = Buffer.alloc(8);
    seq.writeBigInt64BE(BigInt(this.seq++));
    const payload = encode([Date.now() / 1000, events]);
    this.buffer.push([seq, payload]);
    if (this.buffer.length > this.c.bufferSteps) this.buffer.shift();
    // Sends run one at a time, in order; a full PUB queue drops for slow subscribers (ZeroMQ's PUB semantics).
    this.queue = this.queue.then(() => (this.closed ? undefined : this.pub.send([this.topic, seq, payload]))).catch(() => undefined);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.queue;
    this.closed = true;
    this.pub.close();
    this.replay?.close();
  }

  private async serveReplays(router: Router): Promise<void> {
    while (!this.closed) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      if (frames.length !== 3 || frames[2]!.length !== 8) continue;
      const [id, empty, startBuf] = frames as [Buffer, Buffer, Buffer];
      const start = startBuf.readBigInt64BE();
      try {
        for (const [seq, payload] of [...this.buffer]) {
          if (seq.readBigInt64BE() >= start) await router.send([id, empty, seq, payload]);
        }
        await router.send([id, empty, END_SEQ, Buffer.alloc(0)]);
      } catch {
        if (this.closed) return;
      }
    }
  }
}
