import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { pino } from 'pino';
import type { Decision, InboundRequest, Pipeline } from '../../../src/core/types.js';
import { BodyBudget } from '../../../src/frontends/body-budget.js';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';

// Item 5 of issue 12 for the standalone proxy: a stalled body is answered 408 and its socket closed; bodies held
// together stay under the budget (503 at once above it) and are given back when their responses end.

/** Holds every request until `open()`, then answers 200 with the body length. */
class GatedPipeline implements Pipeline {
  readonly seen: InboundRequest[] = [];
  private gate: Promise<void> = Promise.resolve();
  private release: () => void = () => undefined;

  close(): void {
    this.gate = new Promise((r) => (this.release = r));
  }

  open(): void {
    this.release();
  }

  async handle(req: InboundRequest): Promise<Decision> {
    this.seen.push(req);
    await this.gate;
    return { kind: 'reject', status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from(String(req.body.length)) };
  }
}

interface RawReply {
  text: string;
  /** The server closed the connection. */
  closed: Promise<void>;
}

/** Sends `head` and `body` on a raw socket and collects what comes back. */
function rawRequest(port: number, head: string, body: Buffer): { socket: Socket; reply: Promise<RawReply> } {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  const reply = new Promise<RawReply>((resolve) => {
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (/\r\n\r\n/.test(text)) {
        const len = Number(/content-length: (\d+)/i.exec(text)?.[1] ?? 0);
        if (text.length >= text.indexOf('\r\n\r\n') + 4 + len) resolve({ text, closed });
      }
    });
    socket.once('close', () => resolve({ text, closed }));
  });
  socket.write(head);
  if (body.length > 0) socket.write(body);
  return { socket, reply };
}

function post(length: number): string {
  return `POST /v1/chat/completions HTTP/1.1\r\nhost: proxy\r\ncontent-type: application/json\r\ncontent-length: ${length}\r\n\r\n`;
}

describe('proxy request bodies: stall timeout and shared budget', function () {
  this.timeout(20_000);
  const budget = new BodyBudget(256 * 1024);
  const pipeline = new GatedPipeline();
  let proxy: ProxyServer;

  before(async () => {
    proxy = await startProxyServer({
      host: '127.0.0.1',
      port: 0,
      pipeline,
      maxBodyBytes: 64 * 1024,
      bodyBudget: budget,
      requestIdleTimeoutMs: 400,
      logger: pino({ level: 'silent' }),
    });
  });
  after(async () => {
    await proxy.close(100);
  });

  it('answers a body that stops arriving with 408 and closes the socket', async () => {
    const started = Date.now();
    const { reply } = rawRequest(proxy.port, post(10_000), Buffer.alloc(5_000, 0x20));
    const r = await reply;
    expect(r.text).to.match(/^HTTP\/1\.1 408 /);
    expect(r.text.toLowerCase()).to.contain('connection: close');
    expect(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).error.code).to.equal('request_timeout');
    await r.closed;
    expect(Date.now() - started).to.be.within(350, 5_000);
    expect(budget.inUse).to.equal(0);
    expect(pipeline.seen).to.have.length(0);
  });

  it('holds a trickling body as long as bytes keep coming', async () => {
    const body = Buffer.from('{"model":"m"}');
    const { socket, reply } = rawRequest(proxy.port, post(body.length), Buffer.alloc(0));
    for (const byte of body) {
      await new Promise((r) => setTimeout(r, 60));
      socket.write(Buffer.from([byte]));
    }
    const r = await reply;
    expect(r.text).to.match(/^HTTP\/1\.1 200 /);
    socket.destroy();
  });

  it('aborts the request signal (dropping token counting) when the client leaves during the decision', async () => {
    pipeline.close();
    pipeline.seen.length = 0;
    const body = Buffer.from('{"model":"m"}');
    const { socket } = rawRequest(proxy.port, post(body.length), body);
    await waitUntil(() => pipeline.seen.length === 1);
    expect(pipeline.seen[0]!.signal!.aborted).to.equal(false);
    socket.destroy();
    await waitUntil(() => pipeline.seen[0]!.signal!.aborted);
    pipeline.open();
    await waitUntil(() => budget.inUse === 0);
  });

  it('answers 503 at once past the shared budget and gives the bytes back when responses end', async () => {
    const size = 60 * 1024; // 4 fit in 256 KiB
    for (let round = 0; round < 2; round++) {
      pipeline.close();
      pipeline.seen.length = 0;
      const held: Promise<RawReply>[] = [];
      const refused: RawReply[] = [];
      for (let i = 0; i < 10; i++) {
        const { reply } = rawRequest(proxy.port, post(size), Buffer.alloc(size, 0x20));
        // One at a time, so which requests fit is deterministic: each either reaches the pipeline or is refused.
        let answered: RawReply | undefined;
        void reply.then((r) => (answered = r));
        await waitUntil(() => answered !== undefined || pipeline.seen.length === held.length + 1);
        if (answered) refused.push(answered);
        else held.push(reply);
      }
      expect(held).to.have.length(4);
      expect(budget.inUse).to.equal(4 * size);
      for (const r of refused) {
        expect(r.text).to.match(/^HTTP\/1\.1 503 /);
        expect(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)).error.code).to.equal('body_budget_exhausted');
        await r.closed;
      }
      pipeline.open();
      for (const r of await Promise.all(held)) expect(r.text).to.match(/^HTTP\/1\.1 200 [\s\S]*\r\n\r\n61440$/);
      await waitUntil(() => budget.inUse === 0);
    }
  });
});

async function waitUntil(check: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
