import { expect } from 'chai';
import { connect } from 'node:net';
import { startProxyServer } from '../../../src/frontends/proxy/index.js';
import { tenantTokensTotal } from '../../../src/observability/metrics.js';
import {
  chatBody,
  eventually,
  IP,
  jsonHeaders,
  modelOf,
  openStream,
  quiet,
  resetUpstreams,
  send,
  sseEvent,
  sseUsage,
  startFixture,
  type ProxyFixture,
} from './harness.js';

async function outputTokens(model: string): Promise<number> {
  const m = await tenantTokensTotal.get();
  return m.values.find((v) => v.labels.token_type === 'output' && v.labels.model === model)?.value ?? 0;
}

describe('proxy front door: routing, streaming, headers, errors', () => {
  let f: ProxyFixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(() => resetUpstreams(f));

  it('routes to the picked pod, rewrites the model both ways and hands usage to the exchange', async () => {
    const before = await outputTokens('chat');
    const body = chatBody('chat');
    const reply = await send(f.port, { headers: { ...jsonHeaders, 'x-request-id': 'req-42' }, body });

    expect(reply.status).to.equal(200);
    const seen = f.upstream(IP.main).seen;
    expect(seen).to.have.length(1);
    expect(modelOf(seen[0]!)).to.equal('upstream-model');
    expect(seen[0]!.path).to.equal('/v1/chat/completions');
    expect(seen[0]!.headers['x-request-id']).to.equal('req-42');
    expect(seen[0]!.headers['x-forwarded-for']).to.equal('127.0.0.1');
    expect(seen[0]!.headers['x-forwarded-proto']).to.equal('http');
    expect(Number(seen[0]!.headers['content-length'])).to.equal(seen[0]!.body.length);
    expect(seen[0]!.headers.host).to.equal(f.address(IP.main));

    const json = JSON.parse(reply.body);
    expect(json.model).to.equal('chat');
    expect(json.usage.completion_tokens).to.equal(7);
    // The body may be rewritten on the way back, so the proxy frames it itself.
    expect(reply.headers['content-length']).to.equal(undefined);
    expect(await outputTokens('chat')).to.equal(before + 7);
    await eventually(() => f.datastore.endpoint(f.address(IP.main))!.inflight === 0, 'in-flight released');
  });

  it('streams SSE to the client event by event, without buffering', async () => {
    let releaseRest!: () => void;
    const clientSawFirst = new Promise<void>((r) => (releaseRest = r));
    let upstreamWaited = false;
    f.upstream(IP.main).behaviour = (_req, res, seen) => {
      const model = modelOf(seen);
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(sseEvent(model, 'first'));
      // The rest is only sent once the client has the first event: a buffering proxy would deadlock here.
      const fallback = setTimeout(() => releaseRest(), 3000);
      void clientSawFirst.then(() => {
        clearTimeout(fallback);
        upstreamWaited = true;
        res.write(sseEvent(model, 'second'));
        res.write(sseUsage(model, 2));
        res.end('data: [DONE]\n\n');
      });
    };
    const before = await outputTokens('chat');
    const stream = await openStream(f.port, chatBody('chat', { stream: true }));
    expect(stream.status).to.equal(200);
    expect(stream.headers['content-type']).to.equal('text/event-stream');
    await stream.waitFor('first', 2000);
    expect(stream.text()).not.to.contain('second');
    releaseRest();
    expect(await stream.done).to.equal('end');
    expect(upstreamWaited).to.equal(true);
    const text = stream.text();
    expect(text).to.contain('second').and.to.contain('data: [DONE]');
    expect(text).to.contain('"model":"chat"').and.not.to.contain('upstream-model');
    expect(await outputTokens('chat')).to.equal(before + 2);
    await eventually(() => f.datastore.endpoint(f.address(IP.main))!.inflight === 0, 'in-flight released');
  });

  it('strips hop-by-hop headers both ways and never forwards client routing headers', async () => {
    f.upstream(IP.main).behaviour = (_req, res) => {
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'x-upstream-hop',
        'x-upstream-hop': 'drop me',
        'keep-alive': 'timeout=77',
        'proxy-authenticate': 'Basic',
        'x-upstream-keep': 'kept',
      });
      res.end('{}');
    };
    const reply = await send(f.port, {
      headers: {
        ...jsonHeaders,
        connection: 'keep-alive, x-client-hop',
        'x-client-hop': 'drop me',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        'proxy-authorization': 'Basic abc',
        'x-gateway-destination-endpoint': '10.9.9.9:8000',
        'x-gateway-destination-endpoint-subset': '10.9.9.9',
        'x-keep-me': 'yes',
      },
      body: chatBody('chat'),
    });
    expect(reply.status).to.equal(200);
    const h = f.upstream(IP.main).seen[0]!.headers;
    for (const name of ['x-client-hop', 'keep-alive', 'te', 'proxy-authorization', 'x-gateway-destination-endpoint', 'x-gateway-destination-endpoint-subset']) {
      expect(h, name).not.to.have.property(name);
    }
    expect(h['x-keep-me']).to.equal('yes');
    expect(reply.headers).not.to.have.property('x-upstream-hop');
    expect(reply.headers).not.to.have.property('proxy-authenticate');
    // node adds its own keep-alive header on the client connection; the upstream's must not leak through.
    expect(reply.headers['keep-alive']).not.to.equal('timeout=77');
    expect(reply.headers['x-upstream-keep']).to.equal('kept');
  });

  it('joins repeated client headers and appends to an existing x-forwarded-for', async () => {
    const reply = await send(f.port, {
      headers: { ...jsonHeaders, 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https', 'x-multi': ['a', 'b'] },
      body: chatBody('chat'),
    });
    expect(reply.status).to.equal(200);
    const { headers: h, rawHeaders } = f.upstream(IP.main).seen[0]!;
    const multi = rawHeaders.flatMap((v, i) => (i % 2 === 0 && v.toLowerCase() === 'x-multi' ? [rawHeaders[i + 1]] : []));
    expect(multi).to.deep.equal(['a, b']);
    expect(h['x-forwarded-for']).to.equal('203.0.113.7, 127.0.0.1');
    // Not from a trusted proxy: the client's own claim of the scheme is replaced (request-validation.test.ts).
    expect(h['x-forwarded-proto']).to.equal('http');
  });

  it('passes the pipeline rejections through: bad JSON 400, unknown model 404', async () => {
    const bad = await send(f.port, { headers: jsonHeaders, body: '{"model":' });
    expect(bad.status).to.equal(400);
    expect(JSON.parse(bad.body).error).to.include({ code: 'invalid_json', type: 'invalid_request_error' });
    const unknown = await send(f.port, { headers: jsonHeaders, body: chatBody('nope') });
    expect(unknown.status).to.equal(404);
    expect(JSON.parse(unknown.body).error.code).to.equal('model_not_found');
    expect(f.upstream(IP.main).seen).to.have.length(0);
  });

  it('lists models through the pipeline', async () => {
    const reply = await send(f.port, { method: 'GET', path: '/v1/models' });
    expect(reply.status).to.equal(200);
    expect(JSON.parse(reply.body).data.map((m: { id: string }) => m.id)).to.include('chat');
  });

  it('answers 413 for an oversized body, declared or chunked, without forwarding it', async () => {
    const big = chatBody('chat', { pad: 'x'.repeat(70 * 1024) });
    const declared = await send(f.port, { headers: jsonHeaders, body: big });
    expect(declared.status).to.equal(413);
    expect(JSON.parse(declared.body).error).to.include({ code: 'request_too_large', type: 'invalid_request_error' });
    const chunked = await send(f.port, { headers: { ...jsonHeaders, 'transfer-encoding': 'chunked' }, body: big });
    expect(chunked.status).to.equal(413);
    expect(f.upstream(IP.main).seen).to.have.length(0);
  });

  it('answers 400 with an OpenAI-style body to a malformed request', async () => {
    const raw = await new Promise<string>((resolve, reject) => {
      const socket = connect(f.port, '127.0.0.1', () => socket.write('NOT A REQUEST\r\n\r\n'));
      let text = '';
      socket.on('data', (c) => (text += c.toString()));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(raw).to.match(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.code).to.equal('bad_request');
  });
});

describe('proxy front door: pipeline failure', () => {
  it('answers 500 with an OpenAI-style body when the pipeline throws', async () => {
    const proxy = await startProxyServer({
      host: '127.0.0.1',
      port: 0,
      maxBodyBytes: 1024,
      logger: quiet,
      pipeline: { handle: () => Promise.reject(new Error('boom')) },
    });
    try {
      const reply = await send(proxy.port, { headers: jsonHeaders, body: chatBody('chat') });
      expect(reply.status).to.equal(500);
      expect(JSON.parse(reply.body).error).to.include({ type: 'server_error', code: 'internal_error' });
      expect(reply.body).not.to.contain('boom');
    } finally {
      await proxy.close(0);
    }
  });
});
