import { expect } from 'chai';
import { request } from 'node:http';
import { startProxyServer } from '../../../src/frontends/proxy/index.js';
import { registry } from '../../../src/observability/metrics.js';
import {
  chatBody,
  eventually,
  hang,
  IP,
  jsonHeaders,
  openStream,
  quiet,
  rankAs,
  resetUpstreams,
  send,
  sseEvent,
  startFixture,
  statusReply,
  type ProxyFixture,
} from './harness.js';

async function retries(reason: string): Promise<number> {
  const metric = registry.getSingleMetric('kthena_router_proxy_retries_total');
  const values = (await metric!.get()).values;
  return values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

describe('proxy front door: failover, timeouts, cancellation', () => {
  let f: ProxyFixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f.close();
  });
  beforeEach(() => resetUpstreams(f));

  const inflight = (ip: string) => f.datastore.endpoint(f.address(ip))!.inflight;

  it('fails over to the next endpoint when the primary refuses connections, even without a retry policy', async () => {
    rankAs(f.datastore, [f.address(IP.dead), f.address(IP.failoverGood)]);
    const before = await retries('connect_error');
    const reply = await send(f.port, { headers: jsonHeaders, body: chatBody('failover') });
    expect(reply.status).to.equal(200);
    expect(f.upstream(IP.failoverGood).seen).to.have.length(1);
    expect(await retries('connect_error')).to.equal(before + 1);
    await eventually(() => inflight(IP.dead) === 0 && inflight(IP.failoverGood) === 0, 'in-flight released');
  });

  it('retries a 503 on the fallback before any byte went out, when a retry policy allows it', async () => {
    rankAs(f.datastore, [f.address(IP.flaky), f.address(IP.steady)]);
    f.upstream(IP.flaky).behaviour = statusReply(503);
    const reply = await send(f.port, { headers: jsonHeaders, body: chatBody('retry') });
    expect(reply.status).to.equal(200);
    expect(f.upstream(IP.flaky).seen).to.have.length(1);
    expect(f.upstream(IP.steady).seen).to.have.length(1);
    await eventually(() => inflight(IP.flaky) === 0 && inflight(IP.steady) === 0, 'in-flight released');
  });

  it('returns a 503 as it is when no retry policy is set', async () => {
    rankAs(f.datastore, [f.address(IP.noRetryA), f.address(IP.noRetryB)]);
    f.upstream(IP.noRetryA).behaviour = statusReply(503);
    const reply = await send(f.port, { headers: jsonHeaders, body: chatBody('noretry') });
    expect(reply.status).to.equal(503);
    expect(JSON.parse(reply.body).error.message).to.equal('busy');
    expect(f.upstream(IP.noRetryB).seen).to.have.length(0);
  });

  it('never retries once the first byte reached the client: the stream breaks instead', async () => {
    rankAs(f.datastore, [f.address(IP.flaky), f.address(IP.steady)]);
    f.upstream(IP.flaky).behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent('m', 'partial'));
      setTimeout(() => res.destroy(), 30);
    };
    const stream = await openStream(f.port, chatBody('retry', { stream: true }));
    expect(stream.status).to.equal(200);
    expect(await stream.done).to.equal('broken');
    expect(stream.text()).to.contain('partial');
    expect(f.upstream(IP.steady).seen).to.have.length(0);
    await eventually(() => inflight(IP.flaky) === 0, 'in-flight released');
  });

  it('answers 502 once every allowed attempt failed', async () => {
    rankAs(f.datastore, [f.address(IP.dead2), f.address(IP.dead3)]);
    const before = await retries('connect_error');
    const reply = await send(f.port, { headers: jsonHeaders, body: chatBody('alldead') });
    expect(reply.status).to.equal(502);
    expect(JSON.parse(reply.body).error).to.include({ type: 'server_error', code: 'upstream_unavailable' });
    // attempts: 2 → three tries in all, wrapping around the two endpoints.
    expect(await retries('connect_error')).to.equal(before + 2);
    expect(inflight(IP.dead2) + inflight(IP.dead3)).to.equal(0);
  });

  it('answers 504 when the upstream does not answer within trafficPolicy.timeout, and aborts it', async () => {
    f.upstream(IP.slow).behaviour = hang;
    const started = Date.now();
    const reply = await send(f.port, { headers: jsonHeaders, body: chatBody('slow') });
    expect(reply.status).to.equal(504);
    expect(Date.now() - started).to.be.within(250, 2000);
    expect(JSON.parse(reply.body).error).to.include({ type: 'timeout_error', code: 'upstream_timeout' });
    await eventually(() => f.upstream(IP.slow).seen[0]?.aborted === true, 'upstream request aborted');
    expect(inflight(IP.slow)).to.equal(0);
  });

  it('cuts a stream that is still running when the timeout hits', async () => {
    f.upstream(IP.slow).behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent('m', 'early'));
    };
    const stream = await openStream(f.port, chatBody('slow', { stream: true }));
    await stream.waitFor('early');
    expect(await stream.done).to.equal('broken');
    await eventually(() => f.upstream(IP.slow).seen[0]?.aborted === true, 'upstream request aborted');
    expect(inflight(IP.slow)).to.equal(0);
  });

  it('cancels the upstream request when the client goes away and releases the in-flight count', async () => {
    f.upstream(IP.main).behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write(sseEvent('upstream-model', 'one'));
    };
    const stream = await openStream(f.port, chatBody('chat', { stream: true }));
    await stream.waitFor('one');
    expect(inflight(IP.main)).to.equal(1);
    stream.destroy();
    await eventually(() => f.upstream(IP.main).seen[0]?.aborted === true, 'upstream request aborted');
    await eventually(() => inflight(IP.main) === 0, 'in-flight released');
  });

  it('cancels a request whose client leaves before any response byte', async () => {
    f.upstream(IP.main).behaviour = hang;
    const req = request({ host: '127.0.0.1', port: f.port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders, agent: false });
    req.on('error', () => undefined);
    req.end(chatBody('chat'));
    await eventually(() => f.upstream(IP.main).seen.length === 1, 'request upstream');
    expect(inflight(IP.main)).to.equal(1);
    req.destroy();
    await eventually(() => f.upstream(IP.main).seen[0]!.aborted, 'upstream request aborted');
    await eventually(() => inflight(IP.main) === 0, 'in-flight released');
  });
});

describe('proxy front door: shutdown', () => {
  it('close() cancels a hanging stream after the grace period and releases its endpoint', async () => {
    const f = await startFixture();
    try {
      f.upstream(IP.main).behaviour = (_req, res) => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write(sseEvent('upstream-model', 'one'));
      };
      const stream = await openStream(f.port, chatBody('chat', { stream: true }));
      await stream.waitFor('one');
      const started = Date.now();
      await f.proxy.close(150);
      expect(Date.now() - started).to.be.within(100, 2000);
      expect(await stream.done).to.equal('broken');
      await eventually(() => f.upstream(IP.main).seen[0]?.aborted === true, 'upstream request aborted');
      expect(f.datastore.endpoint(f.address(IP.main))!.inflight).to.equal(0);
    } finally {
      await f.close();
    }
  });

  it('refuses to start with a bad body limit', async () => {
    let err: unknown;
    try {
      await startProxyServer({ host: '127.0.0.1', port: 0, maxBodyBytes: 0, logger: quiet, pipeline: { handle: () => Promise.reject(new Error('unused')) } });
    } catch (e) {
      err = e;
    }
    expect(err).to.be.instanceOf(RangeError);
  });
});

describe('proxy front door: back-pressure', () => {
  let f: ProxyFixture;
  before(async () => {
    f = await startFixture();
  });
  after(async () => {
    await f.close();
  });

  it('stops reading the upstream while the client does not read', async () => {
    // Socket buffers on both hops hold a few MiB; a proxy that ignored back-pressure would take in everything.
    const total = 32 * 1024 * 1024;
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let written = 0;
    rankAs(f.datastore, [f.address(IP.noRetryA), f.address(IP.noRetryB)]);
    f.upstream(IP.noRetryA).behaviour = (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      const pump = () => {
        while (written < total) {
          written += chunk.length;
          if (!res.write(chunk)) return void res.once('drain', pump);
        }
        res.end();
      };
      pump();
    };
    let writtenWhilePaused = 0;
    const received = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: f.port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders, agent: false }, (res) => {
        let got = 0;
        res.once('data', (c: Buffer) => {
          got += c.length;
          res.pause();
          void stalled(() => written).then((n) => {
            writtenWhilePaused = n;
            res.on('data', (d: Buffer) => (got += d.length));
            res.resume();
          });
        });
        res.on('end', () => resolve(got));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(chatBody('noretry'));
    });
    expect(writtenWhilePaused).to.be.below(total);
    expect(received).to.equal(total);
  });
});

/** Waits until a growing count stops growing for 200 ms (or 5 s pass), and returns it. */
async function stalled(count: () => number): Promise<number> {
  const deadline = Date.now() + 5000;
  let last = -1;
  while (count() !== last && Date.now() < deadline) {
    last = count();
    await new Promise((r) => setTimeout(r, 200));
  }
  return count();
}
