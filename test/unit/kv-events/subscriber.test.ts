import { encode } from '@msgpack/msgpack';
import { expect } from 'chai';
import { Publisher, Router } from 'zeromq';
import { KvEventsFleet } from '../../../src/kv-events/fleet.js';
import { registry } from '../../../src/observability/metrics.js';

// Real ZeroMQ sockets on loopback: a stand-in for vLLM's ZmqEventPublisher whose sequence numbers and replay
// buffer the test controls, and the router's subscription to it.

const PORT = 5557;
const REPLAY_PORT = 5558;
const digest = (n: number) => new Uint8Array(32).fill(n);
const key = (n: number) => Buffer.from(digest(n).subarray(24)).toString('hex');
const stored = (...ns: number[]) => ['BlockStored', ns.map(digest), null, Array.from({ length: 16 * ns.length }, (_, i) => i), 16, null, 'GPU', null];
const removed = (...ns: number[]) => ['BlockRemoved', ns.map(digest), 'GPU'];

class FakeVllmPublisher {
  readonly buffer = new Map<number, Uint8Array>();
  private pub = new Publisher({ linger: 0 });
  private router: Router | undefined;

  constructor(readonly ip: string) {}

  async start(replay: boolean): Promise<this> {
    await this.pub.bind(`tcp://${this.ip}:${PORT}`);
    if (replay) {
      this.router = new Router({ linger: 0 });
      await this.router.bind(`tcp://${this.ip}:${REPLAY_PORT}`);
      void this.serve(this.router);
    }
    return this;
  }

  /** Buffers the batch for replay and, unless `lost`, publishes it. */
  async send(seq: number, events: unknown[], lost = false): Promise<void> {
    const payload = encode([Date.now() / 1000, events]);
    this.buffer.set(seq, payload);
    if (!lost) await this.pub.send(['', seqBytes(seq), payload]);
  }

  close(): void {
    this.pub.close();
    this.router?.close();
  }

  private async serve(router: Router): Promise<void> {
    for (;;) {
      let frames: Buffer[];
      try {
        frames = await router.receive();
      } catch {
        return;
      }
      const [id, empty, start] = frames as [Buffer, Buffer, Buffer];
      const from = Number(start.readBigInt64BE());
      for (const seq of [...this.buffer.keys()].sort((a, b) => a - b)) {
        if (seq >= from) await router.send([id, empty, seqBytes(seq), this.buffer.get(seq)!]);
      }
      await router.send([id, empty, seqBytes(-1), Buffer.alloc(0)]);
    }
  }
}

function seqBytes(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  return b;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function metric(name: string, labels: Record<string, string>): Promise<number> {
  const m = (await registry.getMetricsAsJSON()).find((x) => x.name === name);
  const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => String(x.labels[k]) === want));
  return v?.value ?? 0;
}

describe('kv-events: per-pod subscription over ZeroMQ', function () {
  this.timeout(20_000);
  let fleet: KvEventsFleet;
  let pub: FakeVllmPublisher | undefined;
  const options = (replay: boolean) => ({
    eventsPort: PORT,
    replayPort: replay ? REPLAY_PORT : undefined,
    topic: '',
    blockSize: 16,
    reconnectMs: 50,
    reconnectMaxMs: 200,
    replayTimeoutMs: 1000,
    maxPendingBatches: 100,
    maxBlocksPerPod: 1000,
  });

  afterEach(() => {
    fleet?.close();
    pub?.close();
    pub = undefined;
  });

  /** Subscribes and waits until the subscription is live and the publisher sees it. */
  async function connect(ip: string, replay: boolean): Promise<string> {
    const address = `${ip}:8000`;
    fleet = new KvEventsFleet(options(replay));
    fleet.ensure(address, ip);
    await until(() => fleet.isPrecise(address), 'the subscription');
    await new Promise((r) => setTimeout(r, 150)); // the SUB's subscription reaches the PUB asynchronously
    return address;
  }

  it('applies stored and removed blocks in order', async () => {
    pub = await new FakeVllmPublisher('127.0.115.1').start(false);
    const address = await connect(pub.ip, false);
    await pub.send(0, [stored(1, 2, 3)]);
    await pub.send(1, [removed(3), stored(4)]);
    await until(() => fleet.blocks(address) === 3, 'three blocks');
    expect(fleet.leadingBlocks(address, [key(1), key(2), key(4)])).to.equal(3);
    expect(fleet.leadingBlocks(address, [key(1), key(3), key(4)])).to.equal(1);
    await pub.send(2, [['AllBlocksCleared']]);
    await until(() => fleet.blocks(address) === 0, 'a cleared view');
  });

  it('fills a sequence gap from the replay socket', async () => {
    pub = await new FakeVllmPublisher('127.0.115.2').start(true);
    const address = await connect(pub.ip, true);
    await pub.send(0, [stored(1)]);
    await until(() => fleet.blocks(address) === 1, 'the first batch');
    const replays = await metric('kthena_router_kv_events_replays_total', { endpoint: address, result: 'complete' });
    await pub.send(1, [stored(2)], true); // lost on the PUB socket, still in the replay buffer
    await pub.send(2, [stored(3)]);
    await until(() => fleet.blocks(address) === 3, 'the replayed batch');
    expect(fleet.leadingBlocks(address, [key(1), key(2), key(3)])).to.equal(3);
    expect(await metric('kthena_router_kv_events_replays_total', { endpoint: address, result: 'complete' })).to.equal(replays + 1);
  });

  it('clears the view when a gap cannot be replayed (no replay socket), then follows the stream', async () => {
    pub = await new FakeVllmPublisher('127.0.115.3').start(false);
    const address = await connect(pub.ip, false);
    await pub.send(0, [stored(1, 2)]);
    await until(() => fleet.blocks(address) === 2, 'the first batch');
    await pub.send(1, [removed(2)], true);
    await pub.send(2, [stored(5)]);
    // Block 2's removal was lost: without a reset the view would still claim it.
    await until(() => fleet.blocks(address) === 1, 'a reset view');
    expect(fleet.leadingBlocks(address, [key(1)])).to.equal(0);
    expect(fleet.leadingBlocks(address, [key(5)])).to.equal(1);
    expect(await metric('kthena_router_kv_events_resets_total', { endpoint: address, reason: 'gap-without-replay' })).to.equal(1);
  });

  it('clears the view when the replay buffer no longer holds the gap', async () => {
    pub = await new FakeVllmPublisher('127.0.115.4').start(true);
    const address = await connect(pub.ip, true);
    await pub.send(0, [stored(1)]);
    await until(() => fleet.blocks(address) === 1, 'the first batch');
    await pub.send(1, [removed(1)], true);
    pub.buffer.delete(1); // aged out of buffer_steps
    await pub.send(2, [stored(7)]);
    await until(() => fleet.leadingBlocks(address, [key(7)]) === 1, 'the batch after the gap');
    expect(fleet.leadingBlocks(address, [key(1)])).to.equal(0);
    expect(await metric('kthena_router_kv_events_replays_total', { endpoint: address, result: 'incomplete' })).to.equal(1);
  });

  it('treats a sequence number going back as an engine restart', async () => {
    pub = await new FakeVllmPublisher('127.0.115.5').start(false);
    const address = await connect(pub.ip, false);
    await pub.send(0, [stored(1)]);
    await pub.send(1, [stored(2)]);
    await until(() => fleet.blocks(address) === 2, 'two batches');
    await pub.send(0, [stored(9)]);
    await until(() => fleet.leadingBlocks(address, [key(9)]) === 1, 'the restarted stream');
    expect(fleet.blocks(address)).to.equal(1);
    expect(await metric('kthena_router_kv_events_resets_total', { endpoint: address, reason: 'publisher-restarted' })).to.equal(1);
  });

  it('catches up on history published before it joined, through the replay socket, even from an idle engine', async () => {
    pub = await new FakeVllmPublisher('127.0.115.6').start(true);
    await pub.send(0, [stored(1, 2)], true);
    await pub.send(1, [stored(3)], true);
    const address = await connect(pub.ip, true);
    await until(() => fleet.blocks(address) === 3, 'the replayed history');
    await pub.send(2, [stored(4)]);
    await until(() => fleet.blocks(address) === 4, 'the live stream after it');
  });

  it('falls back while nothing publishes, and turns precise once a publisher appears', async () => {
    const ip = '127.0.115.7';
    const address = `${ip}:8000`;
    fleet = new KvEventsFleet(options(false));
    expect(fleet.ensure(address, ip)).to.equal(false);
    await new Promise((r) => setTimeout(r, 300));
    expect(fleet.isPrecise(address)).to.equal(false);
    expect(await metric('kthena_router_kv_events_precise', { endpoint: address })).to.equal(0);
    pub = await new FakeVllmPublisher(ip).start(false);
    await until(() => fleet.isPrecise(address), 'reconnection');
    expect(await metric('kthena_router_kv_events_precise', { endpoint: address })).to.equal(1);
    pub.close();
    pub = undefined;
    await until(() => !fleet.isPrecise(address), 'the fallback after the publisher left');
  });
});
