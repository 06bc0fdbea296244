import { expect } from 'chai';
import { connect } from 'node:net';
import { startProxyServer } from '../../../src/frontends/proxy/index.js';
import { TrustedProxies } from '../../../src/frontends/proxy/trusted-proxies.js';
import { chatBody, IP, jsonHeaders, quiet, resetUpstreams, send, startFixture, type ProxyFixture } from './harness.js';

// The proxy's checks of what a client sends: slow senders get 408, absurd nesting 400, two Host headers 400, and
// X-Forwarded-Host/-Proto are believed only from configured trusted proxies.

/** Writes `head` on a raw connection, then `drip` every 100 ms, and returns everything the proxy answered. */
function trickle(port: number, head: string, drip: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(head));
    const timer = setInterval(() => socket.writable && socket.write(drip), 100);
    let text = '';
    socket.on('data', (c) => (text += c.toString()));
    socket.on('close', () => {
      clearInterval(timer);
      resolve(text);
    });
    socket.on('error', (err) => {
      clearInterval(timer);
      if (text) resolve(text);
      else reject(err);
    });
  });
}

function rawRequest(port: number, request: string): Promise<string> {
  return trickle(port, request, '');
}

const statusOf = (raw: string) => Number(raw.slice(9, 12));
const errorCodeOf = (raw: string) => JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)).error.code;

describe('proxy front door: request validation', function () {
  this.timeout(30_000);
  let f: ProxyFixture;
  before(async () => {
    f = await startFixture(4 * 1024 * 1024, { headersTimeoutMs: 500, requestReceiveTimeoutMs: 1_000 });
  });
  after(() => f.close());
  beforeEach(() => resetUpstreams(f));

  it('answers 408 to headers trickled in too slowly (slowloris)', async () => {
    const started = Date.now();
    const raw = await trickle(f.port, 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n', 'X-Slow: 1\r\n');
    expect(statusOf(raw), raw).to.equal(408);
    expect(errorCodeOf(raw)).to.equal('request_timeout');
    expect(Date.now() - started).to.be.below(10_000);
  });

  it('answers 408 to a body trickled in too slowly', async () => {
    const head = 'POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\ncontent-type: application/json\r\ncontent-length: 10000\r\n\r\n{';
    const raw = await trickle(f.port, head, ' ');
    expect(statusOf(raw), raw).to.equal(408);
    expect(errorCodeOf(raw)).to.equal('request_timeout');
    expect(f.upstream(IP.main).seen).to.have.length(0);
  });

  it('answers 400 to a million nested arrays next to a duplicate "model" key', async () => {
    const deep = '['.repeat(1_000_000) + ']'.repeat(1_000_000);
    const reply = await send(f.port, { headers: jsonHeaders, body: `{"model":"chat","x":${deep},"model":"chat"}` });
    expect(reply.status).to.equal(400);
    expect(JSON.parse(reply.body).error).to.include({ code: 'invalid_json', message: 'request body nests deeper than 128 levels' });
    expect(f.upstream(IP.main).seen).to.have.length(0);
  });

  it('answers 400 to two Host headers', async () => {
    const body = chatBody('chat');
    const raw = await rawRequest(
      f.port,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: a.example\r\nHost: b.example\r\ncontent-type: application/json\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
    );
    expect(statusOf(raw), raw).to.equal(400);
    expect(errorCodeOf(raw)).to.equal('bad_request');
    expect(f.upstream(IP.main).seen).to.have.length(0);
  });

  it('replaces a client’s X-Forwarded-Host/-Proto and Forwarded, and keeps them from a trusted proxy', async () => {
    const spoofed = { ...jsonHeaders, 'x-forwarded-host': 'admin.internal', 'x-forwarded-proto': 'https', forwarded: 'host=admin.internal;proto=https' };
    expect((await send(f.port, { headers: spoofed, body: chatBody('chat') })).status).to.equal(200);
    const untrusted = f.upstream(IP.main).seen[0]!.headers;
    expect(untrusted['x-forwarded-host']).to.equal(`127.0.0.1:${f.port}`);
    expect(untrusted['x-forwarded-proto']).to.equal('http');
    expect(untrusted.forwarded).to.equal(undefined);

    const behindLb = await startProxyServer({
      host: '127.0.0.1',
      port: 0,
      pipeline: f.pipeline,
      maxBodyBytes: 64 * 1024,
      logger: quiet,
      trustedProxies: new TrustedProxies(['127.0.0.0/8']),
    });
    try {
      expect((await send(behindLb.port, { headers: spoofed, body: chatBody('chat') })).status).to.equal(200);
      const trusted = f.upstream(IP.main).seen[1]!.headers;
      expect(trusted['x-forwarded-host']).to.equal('admin.internal');
      expect(trusted['x-forwarded-proto']).to.equal('https');
      expect(trusted.forwarded).to.equal('host=admin.internal;proto=https');
    } finally {
      await behindLb.close(100);
    }
  });
});
