import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { loadProtos } from '../../../src/frontends/extproc/index.js';
import type { ProcessingRequest, ProcessingResponse } from '../../../src/frontends/extproc/wire.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { CHAT, startFixture, type Fixture } from './support/fixture.js';
import { waitFor } from './support/test-pipeline.js';

describe('ext_proc server lifecycle and failure handling', () => {
  describe('failures', () => {
    let f: Fixture;
    before(async () => {
      f = await startFixture();
    });
    after(async () => {
      await f.close();
    });

    it('answers 500 when the pipeline throws, and keeps serving', async () => {
      for (const mode of ['BUFFERED', 'FULL_DUPLEX_STREAMED'] as const) {
        const t = await f.client.exchange({ mode, body: { ...CHAT, model: 'explode' }, response: null });
        expect(t.outcome).to.equal('immediate');
        expect(t.immediate!.status).to.equal(500);
        expect(JSON.parse(t.immediate!.body.toString()).error.type).to.equal('server_error');
      }
      const ok = await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT });
      expect(ok.outcome, ok.reason).to.equal('completed');
    });

    it('fails the stream with INVALID_ARGUMENT on out-of-order messages', async () => {
      const client = new (loadProtos().ExtProcClient)(f.address, grpc.credentials.createInsecure());
      try {
        const call = (client as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).Process();
        const status = await new Promise<grpc.StatusObject>((resolve) => {
          call.on('status', resolve);
          call.on('error', () => undefined);
          call.on('data', () => undefined);
          call.write({ request_body: { body: Buffer.from('{}'), end_of_stream: true } });
        });
        expect(status.code).to.equal(grpc.status.INVALID_ARGUMENT);
        expect(status.details).to.contain('before request_headers');
      } finally {
        client.close();
      }
      const ok = await f.client.exchange({ mode: 'BUFFERED', body: CHAT, response: null });
      expect(ok.outcome, ok.reason).to.equal('routed');
      f.pipeline.exchanges.at(-1)!.finish('cancelled');
    });

    it('refuses the GRPC body send mode with UNIMPLEMENTED', async () => {
      const client = new (loadProtos().ExtProcClient)(f.address, grpc.credentials.createInsecure());
      try {
        const call = (client as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).Process();
        const status = await new Promise<grpc.StatusObject>((resolve) => {
          call.on('status', resolve);
          call.on('error', () => undefined);
          call.write({ request_headers: { headers: { headers: [] } }, protocol_config: { request_body_mode: 5 } });
        });
        expect(status.code).to.equal(grpc.status.UNIMPLEMENTED);
      } finally {
        client.close();
      }
    });

    it('ignores body messages after end of stream', async () => {
      const client = new (loadProtos().ExtProcClient)(f.address, grpc.credentials.createInsecure());
      try {
        const call = (client as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).Process();
        const replies: ProcessingResponse[] = [];
        call.on('data', (m: ProcessingResponse) => replies.push(m));
        call.on('error', () => undefined);
        const headers = [
          { key: ':method', raw_value: Buffer.from('POST') },
          { key: ':path', raw_value: Buffer.from('/v1/chat/completions') },
        ];
        call.write({ request_headers: { headers: { headers } }, protocol_config: { request_body_mode: 4, response_body_mode: 4 } });
        call.write({ request_body: { body: Buffer.from(JSON.stringify(CHAT)), end_of_stream: true } });
        call.write({ request_body: { body: Buffer.from('garbage'), end_of_stream: true } });
        await waitFor(() => replies.length >= 2);
        await new Promise((r) => setTimeout(r, 50));
        expect(replies.map((r) => r.response)).to.deep.equal(['request_headers', 'request_body']);
        expect(replies[1]!.request_body!.response!.body_mutation!.streamed_response!.body!.toString()).to.equal(JSON.stringify(CHAT));
        call.end();
      } finally {
        client.close();
      }
      await waitFor(() => f.pipeline.exchanges.at(-1)!.finishes.length === 1);
    });
  });

  describe('decision deadline', () => {
    let f: Fixture;
    before(async () => {
      f = await startFixture({ messageTimeoutMs: 200, decisionTimeoutMs: 300 });
      f.pipeline.delayMs = 600;
    });
    after(async () => {
      await f.close();
    });

    it('answers 504 within Envoy\'s 200 ms message timeout in BUFFERED mode', async () => {
      const t = await f.client.exchange({ mode: 'BUFFERED', body: CHAT, messageTimeoutMs: 200, response: null });
      expect(t.outcome, t.reason).to.equal('immediate');
      expect(t.immediate!.status).to.equal(504);
      await waitFor(() => f.pipeline.exchanges.length === 1 && f.pipeline.exchanges[0]!.finishes.length === 1);
      expect(f.pipeline.exchanges[0]!.finishes).to.deep.equal(['cancelled']); // the late pick is released
    });

    it('answers 504 after decisionTimeoutMs in FULL_DUPLEX_STREAMED', async () => {
      const started = Date.now();
      const t = await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: null });
      expect(t.immediate?.status).to.equal(504);
      expect(Date.now() - started).to.be.within(280, 590);
      expect(JSON.parse(t.immediate!.body.toString()).error.code).to.equal('decision_timeout');
    });
  });

  it('serves TLS with a generated self-signed certificate', async () => {
    const f = await startFixture({ tls: 'self-signed' });
    try {
      expect(f.certificate).to.contain('BEGIN CERTIFICATE');
      const t = await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT });
      expect(t.outcome, t.reason).to.equal('completed');
      const plaintext = new EnvoyClient(f.address);
      try {
        const refused = await plaintext.exchange({ mode: 'BUFFERED', body: CHAT, idleTimeoutMs: 2_000, messageTimeoutMs: 2_000 });
        expect(refused.outcome).to.equal('envoy_error');
      } finally {
        plaintext.close();
      }
    } finally {
      await f.close();
    }
  });

  describe('graceful stop', () => {
    let f: Fixture;
    let raw: grpc.Client;
    beforeEach(async () => {
      f = await startFixture();
      raw = new (loadProtos().ExtProcClient)(f.address, grpc.credentials.createInsecure());
    });
    afterEach(async () => {
      raw.close();
      await f.close();
    });

    /** A routed FULL_DUPLEX_STREAMED stream that stays open, as Envoy's does while the upstream answers. */
    async function openRoutedStream(): Promise<grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>> {
      const call = (raw as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).Process();
      const replies: ProcessingResponse[] = [];
      call.on('data', (m: ProcessingResponse) => replies.push(m));
      call.on('error', () => undefined);
      call.write({
        request_headers: { headers: { headers: [{ key: ':path', raw_value: Buffer.from('/v1/chat/completions') }] } },
        protocol_config: { request_body_mode: 4, response_body_mode: 4 },
      });
      call.write({ request_body: { body: Buffer.from(JSON.stringify(CHAT)), end_of_stream: true } });
      await waitFor(() => replies.length >= 2);
      return call;
    }

    it('waits for an open stream until the grace period, then cancels it', async () => {
      await openRoutedStream();
      const started = Date.now();
      await f.server.stop(300);
      expect(Date.now() - started).to.be.within(250, 1_500);
      await waitFor(() => f.pipeline.exchanges[0]!.finishes.length === 1);
      expect(f.pipeline.exchanges[0]!.finishes).to.deep.equal(['cancelled']);
      await waitFor(() => f.server.activeStreams === 0);
    });

    it('returns as soon as open streams complete within the grace period', async () => {
      const call = await openRoutedStream();
      const started = Date.now();
      const stopping = f.server.stop(5_000);
      call.write({ response_headers: { headers: { headers: [{ key: ':status', raw_value: Buffer.from('200') }] }, end_of_stream: true } });
      call.end();
      await stopping;
      expect(Date.now() - started).to.be.below(2_000);
      expect(f.pipeline.exchanges[0]!.finishes).to.deep.equal(['success']);
    });
  });
});
