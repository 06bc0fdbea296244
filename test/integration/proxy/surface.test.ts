import { expect } from 'chai';
import { pino } from 'pino';
import { ApiPaths } from '../../../src/core/api-paths.js';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { Authenticator, parseAuthConfig } from '../../../src/filters/auth/index.js';
import { ExtProcServer } from '../../../src/frontends/extproc/index.js';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';
import { chatBody, jsonHeaders, quiet, send, startUpstreams, type Upstream } from './harness.js';

// The proxy's attack surface (issue 12, items 2 and 3): only the inference API is routed, in both front doors, and
// the credential the router verified (and the cookies) never reach a self-hosted pod.

const IP = { open: '127.0.73.1', authed: '127.0.73.2', forwarding: '127.0.73.3' };
const OPEN_KEY = 'sk-open-route-0123456789';
const AUTHED_KEY = 'sk-authed-0123456789';

function pipelineFor(port: number, auth: unknown, extraPaths: string[] = []): RoutingPipeline {
  const datastore = new Datastore();
  const server = (name: string, app: string) => ms(name, { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app } }, workloadPort: { port } });
  const objects = [
    server('open', 'open'),
    mr('r-open', { modelName: 'open', rules: [{ targetModels: [{ modelServerName: 'open' }] }] }),
    pod('open-0', IP.open, { app: 'open' }),
    server('authed', 'authed'),
    mr('r-authed', { modelName: 'authed', rules: [{ targetModels: [{ modelServerName: 'authed' }] }] }),
    pod('authed-0', IP.authed, { app: 'authed' }),
  ];
  datastore.sinkFor('test').replace(['Pod', 'ModelServer', 'ModelRoute'], objects.map((o) => parseResource(o) as Resource));
  return new RoutingPipeline({
    datastore,
    scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(3)),
    maxBodyBytes: 1 << 20,
    random: seeded(4),
    auth: new Authenticator(parseAuthConfig(auth)),
    apiPaths: new ApiPaths(extraPaths),
  });
}

const AUTH = {
  mode: 'optional',
  apiKeys: { keys: [{ key: AUTHED_KEY, user: 'alice' }, { key: OPEN_KEY, user: 'bob' }] },
};

/** Requests a client could send to reach engine internals, each with a routable JSON body. */
const PROBES: Array<{ method: string; path: string }> = [
  { method: 'GET', path: '/../../etc/passwd' },
  { method: 'GET', path: '/metrics' },
  { method: 'POST', path: '/v1/load_lora_adapter' },
  { method: 'POST', path: '/sleep' },
  { method: 'POST', path: '/admin/fail' },
  { method: 'POST', path: '/v1/chat/completions/../../admin/fail' },
  { method: 'POST', path: '/v1/chat%2Fcompletions' },
];

describe('proxy surface: routed paths and consumed credentials', () => {
  let upstreams: Upstream[];
  let upstreamPort: number;
  let proxy: ProxyServer;
  let extproc: ExtProcServer;
  let envoy: EnvoyClient;
  const seenBy = (ip: string) => upstreams.find((u) => u.ip === ip)!.seen;

  before(async () => {
    ({ port: upstreamPort, upstreams } = await startUpstreams(Object.values(IP)));
    const pipeline = pipelineFor(upstreamPort, AUTH, ['/v1/rerank']);
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline, maxBodyBytes: 1 << 20, logger: quiet });
    extproc = new ExtProcServer();
    const { port } = await extproc.start({ host: '127.0.0.1', port: 0, pipeline, maxBodyBytes: 1 << 20, messageTimeoutMs: 2000, logger: pino({ level: 'silent' }) });
    envoy = new EnvoyClient(`127.0.0.1:${port}`);
  });
  after(async () => {
    envoy.close();
    await extproc.stop(0);
    await proxy.close(100);
    await Promise.all(upstreams.map((u) => u.close()));
  });
  beforeEach(() => upstreams.forEach((u) => (u.seen.length = 0)));

  describe('standalone proxy', () => {
    for (const { method, path } of PROBES) {
      it(`answers ${method} ${path} with an OpenAI-style 404 and forwards nothing`, async () => {
        const body = method === 'POST' ? JSON.stringify({ model: 'open', mode: '503', lora_name: 'x', lora_path: '/tmp' }) : undefined;
        const reply = await send(proxy.port, { method, path, headers: jsonHeaders, body });
        expect(reply.status).to.equal(404);
        expect(reply.headers['content-type']).to.equal('application/json');
        const error = JSON.parse(reply.body).error;
        expect(error).to.include({ type: 'invalid_request_error', code: 'unknown_url' });
        expect(seenBy(IP.open)).to.have.length(0);
      });
    }

    it('still routes the inference API and the model list, query strings included', async () => {
      expect((await send(proxy.port, { path: '/v1/chat/completions?x=1', headers: jsonHeaders, body: chatBody('open') })).status).to.equal(200);
      expect((await send(proxy.port, { path: '/v1/completions', headers: jsonHeaders, body: JSON.stringify({ model: 'open', prompt: 'hi' }) })).status).to.equal(200);
      const models = await send(proxy.port, { method: 'GET', path: '/v1/models' });
      expect(models.status).to.equal(200);
      expect(seenBy(IP.open).map((s) => s.path)).to.deep.equal(['/v1/chat/completions?x=1', '/v1/completions']);
    });

    it('routes a path the operator added with router.allowedPaths', async () => {
      const reply = await send(proxy.port, { path: '/v1/rerank', headers: jsonHeaders, body: JSON.stringify({ model: 'open', query: 'q', documents: ['a'] }) });
      expect(reply.status).to.equal(200);
      expect(seenBy(IP.open).map((s) => s.path)).to.deep.equal(['/v1/rerank']);
    });

    it('strips the API key it verified and the cookies before the pod, in either header', async () => {
      await send(proxy.port, { headers: { ...jsonHeaders, authorization: `Bearer ${AUTHED_KEY}`, cookie: 'session=s3cret' }, body: chatBody('authed') });
      await send(proxy.port, { headers: { ...jsonHeaders, 'x-api-key': AUTHED_KEY, cookie: 'session=s3cret' }, body: chatBody('authed') });
      const seen = seenBy(IP.authed);
      expect(seen).to.have.length(2);
      for (const s of seen) {
        expect(s.headers).to.not.have.any.keys('authorization', 'x-api-key', 'cookie');
        expect(JSON.stringify(s.rawHeaders)).to.not.contain(AUTHED_KEY);
      }
    });

    it('forwards headers it did not consume, and everything when authentication did not run', async () => {
      // Anonymous (optional mode): the router verified nothing, so nothing was consumed.
      await send(proxy.port, { headers: { ...jsonHeaders, cookie: 'session=1' }, body: chatBody('open') });
      expect(seenBy(IP.open)[0]!.headers.cookie).to.equal('session=1');
    });
  });

  describe('ext_proc front door', () => {
    for (const { method, path } of PROBES) {
      it(`answers ${method} ${path} with an ImmediateResponse 404`, async () => {
        const body = method === 'POST' ? { model: 'open', mode: '503' } : undefined;
        const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', headers: { ':method': method, ':path': path }, body, response: null });
        expect(t.outcome, t.reason).to.equal('immediate');
        expect(t.immediate!.status).to.equal(404);
        expect(JSON.parse(t.immediate!.body.toString()).error.code).to.equal('unknown_url');
      });
    }

    it('removes the verified credential and the cookies from the upstream request', async () => {
      const credentials: Array<Record<string, string>> = [{ authorization: `Bearer ${AUTHED_KEY}` }, { 'x-api-key': AUTHED_KEY }];
      for (const credential of credentials) {
        const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', headers: { ...credential, cookie: 'session=s3cret' }, body: JSON.parse(chatBody('authed')), response: null });
        expect(t.outcome, t.reason).to.equal('routed');
        expect([...t.upstreamHeaders.keys()]).to.not.include.members(['authorization', 'x-api-key', 'cookie']);
      }
    });
  });

  describe('auth.*.forward and auth.forwardCookies', () => {
    it('keeps the credential and the cookies when configured to forward them', async () => {
      const pipeline = pipelineFor(upstreamPort, { apiKeys: { keys: [{ key: AUTHED_KEY, user: 'alice' }], forward: true }, forwardCookies: true });
      const own = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline, maxBodyBytes: 1 << 20, logger: quiet });
      try {
        const reply = await send(own.port, { headers: { ...jsonHeaders, authorization: `Bearer ${AUTHED_KEY}`, cookie: 'session=1' }, body: chatBody('authed') });
        expect(reply.status).to.equal(200);
        expect(seenBy(IP.authed)[0]!.headers).to.include({ authorization: `Bearer ${AUTHED_KEY}`, cookie: 'session=1' });
      } finally {
        await own.close(100);
      }
    });
  });
});
