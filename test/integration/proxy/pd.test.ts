// The standalone proxy running prefill/decode disaggregation itself (Kthena's convention), against recording fake
// engines: the request shapes each phase sends, SSE and usage pass-through, failover between pairs, failures, client
// aborts and timeouts. The same against real simulators: pd-sim.test.ts.
import { expect } from 'chai';
import { request, type ClientRequest } from 'node:http';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { registry, tenantTokensTotal } from '../../../src/observability/metrics.js';
import { mr, ms, pod } from '../../support/builders.js';
import {
  eventually,
  fleet,
  jsonHeaders,
  jsonReply,
  openStream,
  quiet,
  send,
  sseEvent,
  sseUsage,
  startUpstreams,
  statusReply,
  type Behaviour,
  type Fleet,
  type Seen,
  type Upstream,
} from './harness.js';

const IP = {
  nixlP1: '127.0.58.1',
  nixlP2: '127.0.58.2',
  nixlD: '127.0.58.3',
  httpP: '127.0.58.11',
  httpD: '127.0.58.12',
  sglP: '127.0.58.21',
  sglD: '127.0.58.22',
  loneD: '127.0.58.31',
  slowP: '127.0.58.41',
  slowD: '127.0.58.42',
  /** Nothing listens here. */
  dead: '127.0.58.9',
  dead2: '127.0.58.10',
};

const PREFILLER = 'x-prefiller-host-port';

function objects(port: number): unknown[] {
  const pdGroup = { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } };
  const server = (name: string, engine: string, extra: Record<string, unknown> = {}) =>
    ms(name, { inferenceEngine: engine, model: 'upstream-model', workloadSelector: { matchLabels: { app: name }, pdGroup }, workloadPort: { port }, ...extra });
  const route = (name: string) => mr(name, { modelName: name, rules: [{ targetModels: [{ modelServerName: name }] }] });
  const p = (name: string, ip: string, app: string, role: string, group = 'g') => pod(name, ip, { app, role, 'pd-group': group });
  return [
    server('nixl', 'vLLM', { kvConnector: { type: 'nixl' } }),
    server('http', 'vLLM', { kvConnector: { type: 'lmcache' } }),
    server('sgl', 'SGLang'),
    server('lone', 'vLLM', { kvConnector: { type: 'nixl' } }),
    server('slow', 'vLLM', { kvConnector: { type: 'nixl' }, trafficPolicy: { timeout: '300ms' } }),
    ...['nixl', 'http', 'sgl', 'lone', 'slow'].map(route),
    p('nixl-p1', IP.nixlP1, 'nixl', 'prefill'),
    p('nixl-p2', IP.nixlP2, 'nixl', 'prefill'),
    p('nixl-dead', IP.dead, 'nixl', 'prefill'),
    p('nixl-d', IP.nixlD, 'nixl', 'decode'),
    p('http-p', IP.httpP, 'http', 'prefill'),
    p('http-d', IP.httpD, 'http', 'decode'),
    p('sgl-p', IP.sglP, 'sgl', 'prefill'),
    p('sgl-d', IP.sglD, 'sgl', 'decode'),
    p('lone-p', IP.dead2, 'lone', 'prefill'),
    p('lone-d', IP.loneD, 'lone', 'decode'),
    p('slow-p', IP.slowP, 'slow', 'prefill'),
    p('slow-d', IP.slowD, 'slow', 'decode'),
  ];
}

const json = (s: Seen): Record<string, unknown> => JSON.parse(s.body.toString());

/** A vLLM NixlConnector prefill: one token, and where its KV blocks are. */
function nixlPrefill(ip: string): Behaviour {
  return (_req, res, seen) => {
    const body = JSON.stringify({
      id: 'cmpl-p',
      object: 'chat.completion',
      model: json(seen).model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'x' }, finish_reason: 'length' }],
      usage: { prompt_tokens: 5, completion_tokens: 1, total_tokens: 6 },
      kv_transfer_params: { do_remote_prefill: true, do_remote_decode: false, remote_engine_id: `engine-${ip}`, remote_block_ids: [3, 4], remote_host: ip, remote_port: 5600, tp_size: 1 },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

/** A streaming decode: two content events, then usage if asked for, then [DONE]. */
function sseReply(): Behaviour {
  return (_req, res, seen) => {
    const model = String(json(seen).model);
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(sseEvent(model, 'one'));
    res.write(sseEvent(model, 'two'));
    res.write(sseUsage(model, 2));
    res.end('data: [DONE]\n\n');
  };
}

/** Streams one event, then nothing more (until the proxy goes away). */
const firstEventThenHang: Behaviour = (_req, res, seen) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.write(sseEvent(String(json(seen).model), 'first'));
};

async function outputTokens(model: string): Promise<number> {
  const m = await tenantTokensTotal.get();
  return m.values.find((v) => v.labels.token_type === 'output' && v.labels.model === model)?.value ?? 0;
}

async function prefillCount(protocol: string, outcome: string): Promise<number> {
  const m = await registry.getSingleMetric('kthena_router_proxy_prefill_requests_total')!.get();
  return m.values.find((v) => v.labels.protocol === protocol && v.labels.outcome === outcome)?.value ?? 0;
}

const chat = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'tell me a story' }], max_tokens: 20, ...extra });

describe('proxy prefill/decode disaggregation (fake engines)', () => {
  let f: Fleet;
  let proxy: ProxyServer;
  let port: number;
  let up: Map<string, Upstream>;
  const live = [IP.nixlP1, IP.nixlP2, IP.nixlD, IP.httpP, IP.httpD, IP.sglP, IP.sglD, IP.loneD, IP.slowP, IP.slowD];
  const addr = (ip: string) => `${ip}:${upstreamPort}`;
  const u = (ip: string) => up.get(ip)!;
  const inflight = (ip: string) => f.datastore.endpoint(addr(ip))!.inflight;
  let upstreamPort: number;
  let upstreams: Upstream[];
  /**
   * Makes the scheduler rank `ips` in this order: one unit of load apart (the default scorer's scores of endpoints
   * many units apart all bottom out at 0, a tie).
   */
  const rank = (ips: string[]) =>
    ips.forEach((ip, i) => {
      const ep = f.datastore.endpoint(addr(ip))!;
      ep.state = { metrics: { running: i, waiting: 0, kvCacheUsage: 0, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
      ep.picksSinceScrape = 0;
    });

  before(async () => {
    ({ port: upstreamPort, upstreams } = await startUpstreams(live));
    up = new Map(upstreams.map((x) => [x.ip, x]));
    f = fleet(objects(upstreamPort));
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: f.pipeline, maxBodyBytes: 1 << 20, logger: quiet, connectTimeoutMs: 1000 });
    port = proxy.port;
  });
  after(async () => {
    await proxy.close(100);
    await Promise.all(upstreams.map((x) => x.close()));
  });
  beforeEach(() => {
    for (const x of upstreams) {
      x.seen.length = 0;
      x.behaviour = jsonReply(3);
    }
    u(IP.nixlP1).behaviour = nixlPrefill(IP.nixlP1);
    u(IP.nixlP2).behaviour = nixlPrefill(IP.nixlP2);
    u(IP.slowP).behaviour = nixlPrefill(IP.slowP);
    // The live prefill endpoint ranks first unless a test says otherwise.
    rank([IP.nixlP1, IP.nixlP2, IP.dead, IP.nixlD]);
  });
  afterEach(async () => {
    await eventually(() => live.every((ip) => inflight(ip) === 0) && inflight(IP.dead) === 0, 'every in-flight count back to 0');
  });

  it('nixl: prefills (one token, no stream, do_remote_decode), then decodes with the returned kv_transfer_params', async () => {
    const before = await outputTokens('nixl');
    const reply = await send(port, { headers: { ...jsonHeaders, [PREFILLER]: '6.6.6.6:1' }, body: chat('nixl', { stream: false, max_completion_tokens: 20 }) });

    expect(reply.status).to.equal(200);
    const [prefill, ...morePrefills] = u(IP.nixlP1).seen;
    const [decode, ...moreDecodes] = u(IP.nixlD).seen;
    expect(morePrefills, 'one prefill request').to.have.length(0);
    expect(moreDecodes, 'one decode request').to.have.length(0);
    expect(u(IP.nixlP2).seen).to.have.length(0);
    const p = json(prefill!);
    expect(p).to.deep.include({ model: 'upstream-model', max_tokens: 1, max_completion_tokens: 1 });
    expect(p).to.not.have.any.keys('stream', 'stream_options');
    expect(p.kv_transfer_params).to.deep.equal({
      do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null,
    });
    expect(prefill!.headers['accept-encoding']).to.equal('identity');
    const d = json(decode!);
    expect(d).to.deep.include({ model: 'upstream-model', max_tokens: 20, max_completion_tokens: 20, stream: false });
    expect(d.kv_transfer_params).to.deep.equal({
      do_remote_prefill: true, do_remote_decode: false, remote_engine_id: `engine-${IP.nixlP1}`, remote_block_ids: [3, 4], remote_host: IP.nixlP1, remote_port: 5600, tp_size: 1,
    });
    for (const s of [prefill!, decode!]) {
      expect(s.headers[PREFILLER], 'the proxy runs both phases: no sidecar header, and never the client’s').to.equal(undefined);
      expect(Number(s.headers['content-length'])).to.equal(s.body.length);
    }
    const answer = JSON.parse(reply.body);
    expect(answer.model, 'the engine’s model name is rewritten back').to.equal('nixl');
    expect(answer.usage.completion_tokens).to.equal(3);
    expect(answer).to.not.have.property('kv_transfer_params');
    expect(await outputTokens('nixl')).to.equal(before + 3);
  });

  it('nixl: streams the decode response to the client event by event, with its usage', async () => {
    u(IP.nixlD).behaviour = sseReply();
    const before = await outputTokens('nixl');
    const stream = await openStream(port, chat('nixl', { stream: true, stream_options: { include_usage: true } }));
    expect(await stream.done).to.equal('end');

    expect(stream.status).to.equal(200);
    expect(stream.headers['content-type']).to.equal('text/event-stream');
    expect(stream.text()).to.include('"content":"one"').and.include('"content":"two"').and.include('data: [DONE]');
    expect(stream.text()).to.include('"model":"nixl"').and.not.include('upstream-model');
    const p = json(u(IP.nixlP1).seen[0]!);
    expect(p).to.not.have.any.keys('stream', 'stream_options');
    const d = json(u(IP.nixlD).seen[0]!);
    expect(d).to.deep.include({ stream: true, stream_options: { include_usage: true } });
    expect(await outputTokens('nixl')).to.equal(before + 2);
  });

  it('http: prefills, then sends the client’s request unchanged to the decode endpoint', async () => {
    const body = chat('http', { temperature: 0.5 });
    const reply = await send(port, { headers: jsonHeaders, body });
    expect(reply.status).to.equal(200);
    expect(u(IP.httpP).seen).to.have.length(1);
    expect(u(IP.httpD).seen).to.have.length(1);
    const p = json(u(IP.httpP).seen[0]!);
    expect(p).to.deep.include({ max_tokens: 1, temperature: 0.5 });
    expect(p).to.not.have.property('kv_transfer_params');
    expect(json(u(IP.httpD).seen[0]!)).to.deep.equal({ ...JSON.parse(body), model: 'upstream-model' });
    expect(JSON.parse(reply.body).usage.completion_tokens).to.equal(3);
  });

  it('nixl: a prefill answer without kv_transfer_params still gets the request decoded (the decode computes the prompt)', async () => {
    u(IP.nixlP1).behaviour = jsonReply(1);
    const before = await prefillCount('nixl', 'no_kv_params');
    const reply = await send(port, { headers: jsonHeaders, body: chat('nixl') });
    expect(reply.status).to.equal(200);
    expect(json(u(IP.nixlD).seen[0]!)).to.not.have.property('kv_transfer_params');
    expect(await prefillCount('nixl', 'no_kv_params')).to.equal(before + 1);
  });

  describe('sglang', () => {
    /** SGLang's prefill answers only once the decode request of its room arrived (here: within 2 s, else 500). */
    function sglPrefill(): Behaviour {
      return (_req, res, seen) => {
        const room = json(seen).bootstrap_room;
        const deadline = Date.now() + 2000;
        const poll = (): void => {
          if (res.destroyed) return;
          const joined = u(IP.sglD).seen.some((s) => json(s).bootstrap_room === room);
          if (joined) return jsonReply(1)(_req, res, seen);
          if (Date.now() > deadline) return statusReply(500)(_req, res, seen);
          setTimeout(poll, 5);
        };
        poll();
      };
    }

    it('sends both requests at once with the same bootstrap room; the decode names the prefill host', async () => {
      u(IP.sglP).behaviour = sglPrefill();
      u(IP.sglD).behaviour = sseReply();
      const stream = await openStream(port, chat('sgl', { stream: true }));
      expect(await stream.done).to.equal('end');
      expect(stream.status).to.equal(200);
      expect(stream.text()).to.include('"content":"two"').and.include('data: [DONE]');

      expect(u(IP.sglP).seen).to.have.length(1);
      expect(u(IP.sglD).seen).to.have.length(1);
      const p = json(u(IP.sglP).seen[0]!);
      const d = json(u(IP.sglD).seen[0]!);
      expect(p).to.deep.include({ max_tokens: 1 });
      expect(p).to.not.have.any.keys('stream', 'bootstrap_host', 'bootstrap_port');
      expect(p.bootstrap_room).to.be.a('number');
      expect(d).to.deep.include({ stream: true, max_tokens: 20, bootstrap_room: p.bootstrap_room, bootstrap_host: IP.sglP });
      expect(d, 'SGLang’s default bootstrap port is left out').to.not.have.property('bootstrap_port');
    });

    it('uses a new room for every request', async () => {
      u(IP.sglP).behaviour = sglPrefill();
      await send(port, { headers: jsonHeaders, body: chat('sgl') });
      await send(port, { headers: jsonHeaders, body: chat('sgl') });
      const rooms = u(IP.sglP).seen.map((s) => json(s).bootstrap_room);
      expect(rooms).to.have.length(2);
      expect(rooms[0]).to.not.equal(rooms[1]);
    });

    it('a decode that fails first cancels the waiting prefill; its answer goes to the client', async () => {
      u(IP.sglP).behaviour = () => undefined; // waits for a decode that will never join
      u(IP.sglD).behaviour = statusReply(503);
      const reply = await send(port, { headers: jsonHeaders, body: chat('sgl') });
      expect(reply.status).to.equal(503);
      await eventually(() => u(IP.sglP).seen[0]?.aborted === true, 'prefill request cancelled');
    });

    it('a prefill that fails cancels the decode and the client gets a clear 502', async () => {
      u(IP.sglP).behaviour = statusReply(500);
      u(IP.sglD).behaviour = () => undefined; // waits for KV that never comes
      const reply = await send(port, { headers: jsonHeaders, body: chat('sgl') });
      expect(reply.status).to.equal(502);
      expect(JSON.parse(reply.body).error).to.deep.include({ code: 'prefill_failed', message: 'the prefill endpoint answered 500' });
      await eventually(() => u(IP.sglD).seen[0]?.aborted === true, 'decode request cancelled');
    });

    it('client abort while the prefill waits cancels both upstream requests', async () => {
      u(IP.sglP).behaviour = () => undefined;
      u(IP.sglD).behaviour = firstEventThenHang;
      let answered = false;
      const client = startRequest(port, chat('sgl', { stream: true }), () => (answered = true));
      await eventually(() => u(IP.sglP).seen.length === 1 && u(IP.sglD).seen.length === 1, 'both requests sent');
      expect(inflight(IP.sglP)).to.equal(1);
      expect(inflight(IP.sglD)).to.equal(1);
      await new Promise((r) => setTimeout(r, 50));
      expect(answered, 'the decode stream waits for the prefill to succeed').to.equal(false);
      client.destroy();
      await eventually(() => u(IP.sglP).seen[0]!.aborted && u(IP.sglD).seen[0]!.aborted, 'both upstream requests aborted');
    });
  });

  it('fails over to the next pair when the prefill endpoint refuses connections', async () => {
    rank([IP.dead, IP.nixlP1, IP.nixlP2, IP.nixlD]);
    const reply = await send(port, { headers: jsonHeaders, body: chat('nixl') });
    expect(reply.status).to.equal(200);
    expect(u(IP.nixlP1).seen).to.have.length(1);
    expect(u(IP.nixlD).seen, 'the decode request is sent once, after the prefill that worked').to.have.length(1);
    expect(json(u(IP.nixlD).seen[0]!).kv_transfer_params).to.deep.include({ remote_host: IP.nixlP1 });
  });

  it('fails over to the next pair when the prefill endpoint answers 5xx', async () => {
    u(IP.nixlP1).behaviour = statusReply(503);
    const reply = await send(port, { headers: jsonHeaders, body: chat('nixl') });
    expect(reply.status).to.equal(200);
    expect(u(IP.nixlP1).seen).to.have.length(1);
    expect(u(IP.nixlP2).seen).to.have.length(1);
    expect(json(u(IP.nixlD).seen[0]!).kv_transfer_params).to.deep.include({ remote_host: IP.nixlP2 });
  });

  it('answers 502 prefill_failed when no pair is left, without touching the decode endpoint', async () => {
    const reply = await send(port, { headers: jsonHeaders, body: chat('lone') });
    expect(reply.status).to.equal(502);
    expect(reply.headers['content-type']).to.equal('application/json');
    const err = JSON.parse(reply.body).error;
    expect(err.code).to.equal('prefill_failed');
    expect(err.message).to.match(/^the prefill endpoint could not be reached \(ECONNREFUSED\)$/);
    expect(u(IP.loneD).seen).to.have.length(0);
  });

  it('returns a prefill 4xx to the client as it is, without decoding', async () => {
    u(IP.nixlP1).behaviour = (_req, res) => {
      const body = JSON.stringify({ error: { message: 'prompt too long', type: 'BadRequestError', code: 400 } });
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(body);
    };
    const reply = await send(port, { headers: jsonHeaders, body: chat('nixl') });
    expect(reply.status).to.equal(400);
    expect(JSON.parse(reply.body).error.message).to.equal('prompt too long');
    expect(u(IP.nixlD).seen).to.have.length(0);
    expect(u(IP.nixlP2).seen, 'a client error is not retried').to.have.length(0);
  });

  it('client abort mid-stream closes the decode request and releases both in-flight counts', async () => {
    u(IP.nixlD).behaviour = firstEventThenHang;
    const stream = await openStream(port, chat('nixl', { stream: true }));
    await stream.waitFor('"content":"first"');
    expect(inflight(IP.nixlD)).to.equal(1);
    expect(inflight(IP.nixlP1), 'the prefill endpoint is released when its phase ends').to.equal(0);
    stream.destroy();
    await eventually(() => u(IP.nixlD).seen[0]?.aborted === true, 'decode request aborted');
  });

  it('client abort during the prefill cancels it and never sends the decode request', async () => {
    u(IP.nixlP1).behaviour = () => undefined;
    const client = startRequest(port, chat('nixl'));
    await eventually(() => u(IP.nixlP1).seen.length === 1, 'prefill request sent');
    expect(inflight(IP.nixlP1)).to.equal(1);
    expect(inflight(IP.nixlD)).to.equal(1);
    client.destroy();
    await eventually(() => u(IP.nixlP1).seen[0]?.aborted === true, 'prefill request aborted');
    expect(u(IP.nixlD).seen).to.have.length(0);
  });

  it('the target’s timeout covers the prefill phase: 504, and the prefill request is aborted', async () => {
    u(IP.slowP).behaviour = () => undefined;
    const started = Date.now();
    const reply = await send(port, { headers: jsonHeaders, body: chat('slow') });
    expect(reply.status).to.equal(504);
    expect(JSON.parse(reply.body).error.code).to.equal('upstream_timeout');
    expect(Date.now() - started).to.be.within(250, 2000);
    await eventually(() => u(IP.slowP).seen[0]?.aborted === true, 'prefill request aborted');
    expect(u(IP.slowD).seen).to.have.length(0);
  });

  it('the target’s timeout also covers the decode phase', async () => {
    u(IP.slowD).behaviour = firstEventThenHang;
    const stream = await openStream(port, chat('slow', { stream: true }));
    expect(await stream.done).to.equal('broken');
    await eventually(() => u(IP.slowD).seen[0]?.aborted === true, 'decode request aborted');
  });
});

/** A client request the test can abandon at any time; `onResponse` is told when response headers arrive. */
function startRequest(port: number, body: string, onResponse: () => void = () => undefined): ClientRequest {
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders, agent: false }, (res) => {
    onResponse();
    res.resume();
    res.on('error', () => undefined);
  });
  req.on('error', () => undefined);
  req.end(body);
  return req;
}
