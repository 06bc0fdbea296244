import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { pino } from 'pino';
import type { Decision, Pipeline } from '../../../src/core/types.js';
import { BodyBudget } from '../../../src/frontends/body-budget.js';
import { ExtProcServer, loadProtos } from '../../../src/frontends/extproc/index.js';
import { BodySendMode, type ProcessingRequest, type ProcessingResponse } from '../../../src/frontends/extproc/wire.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { CHAT, startFixture, type Fixture } from './support/fixture.js';
import { waitFor } from './support/test-pipeline.js';

// Item 5 of issue 12: a stream that stops sending must not hold memory or reservations forever, and all streams
// together hold at most the body budget.

type Call = grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;

interface RawStream {
  call: Call;
  replies: ProcessingResponse[];
  status: Promise<grpc.StatusObject>;
}

const HEADERS = [
  { key: ':method', raw_value: Buffer.from('POST') },
  { key: ':path', raw_value: Buffer.from('/v1/chat/completions') },
  { key: 'content-type', raw_value: Buffer.from('application/json') },
];

describe('ext_proc bounded memory per stream', function () {
  this.timeout(20_000);
  let f: Fixture;
  let client: grpc.Client;
  const budget = new BodyBudget(1024 * 1024);

  before(async () => {
    f = await startFixture({ requestIdleTimeoutMs: 400, responseIdleTimeoutMs: 600, bodyBudget: budget });
    client = new (loadProtos().ExtProcClient)(f.address, grpc.credentials.createInsecure(), {
      'grpc.max_send_message_length': -1,
    });
  });
  after(async () => {
    client.close();
    await f.close();
  });

  function open(): RawStream {
    const call = (client as unknown as { Process(): Call }).Process();
    const replies: ProcessingResponse[] = [];
    call.on('data', (m: ProcessingResponse) => replies.push(m));
    call.on('error', () => undefined);
    const status = new Promise<grpc.StatusObject>((resolve) => call.on('status', resolve));
    return { call, replies, status };
  }

  function startBody(s: RawStream, chunk: Buffer): void {
    const mode = BodySendMode.FULL_DUPLEX_STREAMED;
    s.call.write({ request_headers: { headers: { headers: HEADERS } }, protocol_config: { request_body_mode: mode, response_body_mode: mode } });
    s.call.write({ request_body: { body: chunk, end_of_stream: false } });
  }

  it('ends a stream whose body stops arriving with DEADLINE_EXCEEDED and returns its bytes', async () => {
    const s = open();
    const started = Date.now();
    startBody(s, Buffer.alloc(100_000, 0x20));
    await waitFor(() => budget.inUse === 100_000);
    const status = await s.status;
    expect(status.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(status.details).to.contain('no message on the stream for 400 ms');
    expect(Date.now() - started).to.be.within(350, 5_000);
    expect(budget.inUse).to.equal(0);
  });

  it('keeps a stream alive while messages keep coming within the idle period', async () => {
    const s = open();
    startBody(s, Buffer.from('{"model":"plain-model",'));
    for (let i = 0; i < 4; i++) {
      await new Promise((r) => setTimeout(r, 100));
      s.call.write({ request_body: { body: Buffer.from(' '), end_of_stream: false } });
    }
    s.call.write({ request_body: { body: Buffer.from('"messages":[]}'), end_of_stream: true } });
    await waitFor(() => s.replies.some((r) => r.request_headers !== undefined));
    expect(s.replies.some((r) => r.immediate_response !== undefined)).to.equal(false);
    s.call.cancel();
  });

  it('ends a routed stream that goes quiet and releases its exchange as cancelled', async () => {
    const before = f.pipeline.exchanges.length;
    const s = open();
    const get = [{ key: ':method', raw_value: Buffer.from('GET') }, HEADERS[1]!];
    s.call.write({ request_headers: { headers: { headers: get }, end_of_stream: true } });
    await waitFor(() => f.pipeline.exchanges.length === before + 1);
    expect(f.pipeline.inFlight()).to.equal(1);
    const status = await s.status;
    expect(status.code).to.equal(grpc.status.DEADLINE_EXCEEDED);
    expect(f.pipeline.exchanges.at(-1)!.finishes).to.deep.equal(['cancelled']);
    expect(f.pipeline.inFlight()).to.equal(0);
  });

  it('answers 503 at once past the shared budget, under many concurrent streams, and frees it afterwards', async () => {
    const chunk = 62 * 1024; // 16 fit in the 1 MiB budget, with room left for their last chunks
    for (let round = 0; round < 2; round++) {
      const streams = Array.from({ length: 40 }, () => open());
      for (const s of streams) startBody(s, Buffer.alloc(chunk, 0x20));
      await waitFor(() => streams.filter((s) => s.replies.length > 0).length === 24, 5_000);
      expect(budget.inUse).to.equal(16 * chunk);
      const refused = streams.filter((s) => s.replies.length > 0);
      for (const s of refused) {
        const reply = s.replies[0]!.immediate_response!;
        expect(reply.status!.code).to.equal(503);
        expect(JSON.parse(reply.body!.toString()).error.code).to.equal('body_budget_exhausted');
        const headers = reply.headers!.set_headers!.map((h) => h.header!.key);
        expect(headers).to.include('retry-after');
      }
      // The held streams finish normally; nothing stays charged.
      const held = streams.filter((s) => s.replies.length === 0);
      for (const s of held) s.call.write({ request_body: { body: Buffer.from(JSON.stringify(CHAT)), end_of_stream: true } });
      await waitFor(() => held.every((s) => s.replies.length > 0), 5_000);
      for (const s of held) s.call.cancel();
      await waitFor(() => budget.inUse === 0);
    }
  });
});

describe('ext_proc: work for a request that is over is dropped', function () {
  this.timeout(20_000);
  /** Never decides on its own; records the signal each request carries. */
  const signals: AbortSignal[] = [];
  const stuck: Pipeline = {
    handle: (req) =>
      new Promise<Decision>((resolve) => {
        signals.push(req.signal!);
        req.signal!.addEventListener('abort', () =>
          resolve({ kind: 'reject', status: 499, headers: {}, body: Buffer.alloc(0) }),
        );
      }),
  };
  const server = new ExtProcServer();
  let client: EnvoyClient;

  before(async () => {
    const started = await server.start({
      host: '127.0.0.1',
      port: 0,
      pipeline: stuck,
      maxBodyBytes: 64 * 1024,
      messageTimeoutMs: 300,
      logger: pino({ level: 'silent' }),
    });
    client = new EnvoyClient(`127.0.0.1:${started.port}`);
  });
  after(async () => {
    client.close();
    await server.stop(100);
  });

  it('aborts the decision signal when the decision deadline passes', async () => {
    const t = await client.exchange({ mode: 'BUFFERED', body: CHAT, response: null, messageTimeoutMs: 5_000 });
    expect(t.immediate?.status).to.equal(504);
    expect(signals.at(-1)!.aborted).to.equal(true);
  });

  it('aborts the decision signal when Envoy cancels the stream', async () => {
    const before = signals.length;
    const abort = new AbortController();
    const run = client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, signal: abort.signal });
    await waitFor(() => signals.length === before + 1);
    expect(signals.at(-1)!.aborted).to.equal(false);
    abort.abort();
    await run.catch(() => undefined);
    await waitFor(() => signals.at(-1)!.aborted);
  });
});
