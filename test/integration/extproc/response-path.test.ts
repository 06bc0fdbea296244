import { expect } from 'chai';
import type { ModeName } from '../../support/envoy-client.js';
import { CHAT, startFixture, type Fixture } from './support/fixture.js';
import { waitFor } from './support/test-pipeline.js';

const USAGE = { id: 'c1', model: 'real-model', usage: { prompt_tokens: 5, completion_tokens: 7, total_tokens: 12 } };
const SSE_EVENTS = [
  { id: 'c1', model: 'real-model', choices: [{ delta: { content: 'Hel' } }] },
  { id: 'c1', model: 'real-model', choices: [{ delta: { content: 'lo' } }] },
  { id: 'c1', model: 'real-model', choices: [], usage: { prompt_tokens: 5, completion_tokens: 2, total_tokens: 7 } },
];

describe('ext_proc response path over gRPC', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f.close();
  });

  const modes: ModeName[] = ['BUFFERED', 'STREAMED', 'FULL_DUPLEX_STREAMED'];
  for (const mode of modes) {
    describe(`response body mode ${mode}`, () => {
      it('reports status, headers, the JSON body, the served endpoint and finishes with success', async () => {
        const t = await f.client.exchange({
          mode: 'FULL_DUPLEX_STREAMED',
          responseMode: mode,
          body: CHAT,
          response: { body: USAGE, headers: { 'x-upstream': 'vllm' }, served: '10.0.0.2:8000' },
        });
        expect(t.outcome, t.reason).to.equal('completed');
        const x = f.pipeline.exchanges.at(-1)!;
        expect(x.servedCalls).to.deep.equal(['10.0.0.2:8000']);
        expect(x.responseHeaderCalls).to.have.length(1);
        expect(x.responseHeaderCalls[0]!.status).to.equal(200);
        expect(x.responseHeaderCalls[0]!.headers.get('x-upstream')).to.equal('vllm');
        expect(x.responseHeaderCalls[0]!.headers.has(':status')).to.equal(false);
        expect(Buffer.concat(x.bodyCalls.map((c) => c.chunk)).toString()).to.equal(JSON.stringify(USAGE));
        expect(x.bodyCalls.at(-1)!.endOfStream).to.equal(true);
        expect(x.finishes).to.deep.equal(['success']);
        expect(t.downstreamBody.toString()).to.equal(JSON.stringify(USAGE));
        expect(t.responseReplies[0]!.response).to.equal('response_headers');
        expect(t.downstreamHeaders?.has('x-conformance-test-served-endpoint'), 'conformance hook outside test mode').to.equal(false);
      });

      it('passes SSE chunks one by one, forwarding the bytes the exchange returns', async () => {
        const t = await f.client.exchange({
          mode: 'BUFFERED',
          responseMode: mode,
          body: { ...CHAT, model: 'alias-model', stream: true },
          response: { sseEvents: SSE_EVENTS },
        });
        expect(t.outcome, t.reason).to.equal('completed');
        const x = f.pipeline.exchanges.at(-1)!;
        const expectedChunks = mode === 'BUFFERED' ? 1 : SSE_EVENTS.length + 1;
        expect(x.bodyCalls).to.have.length(expectedChunks);
        expect(x.bodyCalls.map((c) => c.endOfStream).lastIndexOf(true)).to.equal(expectedChunks - 1);
        expect(Buffer.concat(x.bodyCalls.map((c) => c.chunk)).toString()).to.contain('"total_tokens":7');
        // The pipeline maps the real model back to the client-facing alias in every chunk.
        const text = t.downstreamBody.toString();
        expect(text).to.contain('"model":"alias-model"');
        expect(text).to.not.contain('real-model');
        expect(text.endsWith('data: [DONE]\n\n')).to.equal(true);
        if (mode === 'BUFFERED') {
          expect(t.downstreamHeaders!.get('content-length')).to.equal(String(t.downstreamBody.length));
        }
        expect(x.finishes).to.deep.equal(['success']);
      });

      it('completes on response trailers with an empty TrailersResponse', async () => {
        const t = await f.client.exchange({
          mode: 'FULL_DUPLEX_STREAMED',
          responseMode: mode,
          body: CHAT,
          response: { body: USAGE, trailers: { 'grpc-status': '0' } },
        });
        expect(t.outcome, t.reason).to.equal('completed');
        const trailersReply = t.responseReplies.at(-1)!;
        expect(trailersReply.response).to.equal('response_trailers');
        expect(trailersReply.response_trailers!.header_mutation).to.equal(null);
        const x = f.pipeline.exchanges.at(-1)!;
        expect(x.bodyCalls.at(-1)!.endOfStream).to.equal(true);
        expect(x.finishes).to.deep.equal(['success']);
      });
    });
  }

  it('finishes with error when the upstream answers 5xx', async () => {
    const t = await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: { status: 503, body: { error: 'overloaded' } } });
    expect(t.outcome, t.reason).to.equal('completed');
    expect(f.pipeline.exchanges.at(-1)!.finishes).to.deep.equal(['error']);
  });

  it('finishes a header-only response (end_of_stream on response headers)', async () => {
    const t = await f.client.exchange({ mode: 'BUFFERED', body: CHAT, response: { status: 204 } });
    expect(t.outcome, t.reason).to.equal('completed');
    const x = f.pipeline.exchanges.at(-1)!;
    expect(x.responseHeaderCalls[0]!.status).to.equal(204);
    expect(x.finishes).to.deep.equal(['success']);
  });

  it('finishes when Envoy closes the stream after headers in response body mode NONE', async () => {
    const t = await f.client.exchange({ mode: 'BUFFERED', responseMode: 'NONE', body: CHAT, response: { body: USAGE } });
    expect(t.outcome, t.reason).to.equal('completed');
    const x = f.pipeline.exchanges.at(-1)!;
    await waitFor(() => x.finishes.length > 0);
    expect(x.finishes).to.deep.equal(['success']);
    expect(x.bodyCalls).to.have.length(0);
  });

  it('does not report a served endpoint the gateway did not send', async () => {
    await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: { body: USAGE, served: null } });
    expect(f.pipeline.exchanges.at(-1)!.servedCalls).to.deep.equal([]);
  });

  describe('cancellation', () => {
    for (const point of ['routed', 'response_headers', 'response_body'] as const) {
      it(`finishes 'cancelled' exactly once when Envoy cancels after ${point}`, async () => {
        const before = f.pipeline.inFlight();
        const t = await f.client.exchange({
          mode: 'FULL_DUPLEX_STREAMED',
          body: CHAT,
          response: { sseEvents: SSE_EVENTS },
          cancelAt: point,
        });
        expect(t.outcome).to.equal('cancelled');
        const x = f.pipeline.exchanges.at(-1)!;
        await waitFor(() => x.finishes.length > 0);
        await new Promise((r) => setTimeout(r, 50));
        expect(x.finishes).to.deep.equal(['cancelled']);
        expect(f.pipeline.inFlight()).to.equal(before);
      });
    }

    it('releases a decision that arrives after Envoy cancelled', async () => {
      f.pipeline.delayMs = 150;
      try {
        const count = f.pipeline.exchanges.length;
        const requests = f.pipeline.requests.length;
        const abort = new AbortController();
        const pending = f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, signal: abort.signal });
        await waitFor(() => f.pipeline.requests.length > requests);
        abort.abort();
        const t = await pending;
        expect(t.outcome).to.equal('cancelled');
        await waitFor(() => f.pipeline.exchanges.length > count && f.pipeline.exchanges.at(-1)!.finishes.length > 0);
        expect(f.pipeline.exchanges.at(-1)!.finishes).to.deep.equal(['cancelled']);
      } finally {
        f.pipeline.delayMs = 0;
      }
    });

    it("finishes 'cancelled' when Envoy half-closes before any response", async () => {
      const t = await f.client.exchange({ mode: 'BUFFERED', body: CHAT, response: null });
      expect(t.outcome, t.reason).to.equal('routed');
      const x = f.pipeline.exchanges.at(-1)!;
      await waitFor(() => x.finishes.length > 0);
      expect(x.finishes).to.deep.equal(['cancelled']);
    });
  });
});
