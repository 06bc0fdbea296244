import { expect } from 'chai';
import { pino } from 'pino';
import { ExtProcServer } from '../../../src/frontends/extproc/index.js';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { EnvoyClient, type ModeName } from '../../support/envoy-client.js';
import { echoKey400, echoKey401, FakeProvider, type Received, sendJson } from './fake-providers.js';
import { ANTHROPIC_KEY, loadInto, OPENAI_KEY, resources, routerParts, type RouterParts } from './setup.js';

// Provider error bodies on their way back to the client: the key the router injected never comes back (raw, as
// `Bearer <key>` or masked), oversized error bodies are cut at the cap, and a provider's 401/403 (the router's key is
// bad, not the client's) becomes a generic 502 with the provider's status in a header.

const CAP = 2048;
const AUTH_FAILED = { error: { message: "the model provider rejected the router's credentials", type: 'server_error', param: null, code: 'provider_auth_failed' } };

const ask = { messages: [{ role: 'user', content: 'Say hello' }] };

describe('provider errors through the standalone proxy', function () {
  this.timeout(15_000);
  const cert = generateSelfSignedCert({ altNames: ['localhost', '127.0.0.1'] });
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let parts: RouterParts;
  let proxy: ProxyServer;

  before(async () => {
    openai = await FakeProvider.start('openai', cert, OPENAI_KEY);
    anthropic = await FakeProvider.start('anthropic', cert, ANTHROPIC_KEY);
    parts = routerParts({ extraCa: cert.cert, maxErrorBodyBytes: CAP, retry: { attempts: 0, intervalMs: 0, maxIntervalMs: 0 } });
    loadInto(parts.datastore, resources({ openai: openai.origin(), anthropic: anthropic.origin() }, [], 8000));
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: parts.pipeline, maxBodyBytes: 1 << 20, logger: pino({ level: 'silent' }) });
  });

  after(async () => {
    await proxy.close(100);
    await Promise.all([openai.close(), anthropic.close()]);
  });

  const post = (model: string) =>
    fetch(`http://127.0.0.1:${proxy.port}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: JSON.stringify({ model, ...ask }),
    });

  for (const status of [401, 403]) {
    it(`a provider ${status} quoting the masked key becomes 502 provider_auth_failed with x-kthena-provider-status`, async () => {
      openai.override = (req, res) => sendJson(res, status, echoKey401(req));
      const res = await post('gpt');
      const text = await res.text();
      expect(res.status).to.equal(502);
      expect(res.headers.get('x-kthena-provider-status')).to.equal(String(status));
      expect(res.headers.get('content-type')).to.equal('application/json');
      expect(JSON.parse(text)).to.deep.equal(AUTH_FAILED);
      expect(text).not.to.contain('Incorrect API key');
    });
  }

  it('an Anthropic 401 becomes the same 502 (no translation of the provider text)', async () => {
    anthropic.override = (_req, res) => sendJson(res, 401, { type: 'error', error: { type: 'authentication_error', message: 'invalid x-api-key' } });
    const res = await post('claude');
    expect(res.status).to.equal(502);
    expect(res.headers.get('x-kthena-provider-status')).to.equal('401');
    expect(await res.json()).to.deep.equal(AUTH_FAILED);
  });

  it('other errors keep their status and text, with the injected key redacted (OpenAI Bearer, Anthropic x-api-key)', async () => {
    openai.override = (req, res) => sendJson(res, 400, echoKey400(req));
    const res = await post('gpt');
    const text = await res.text();
    expect(res.status).to.equal(400);
    expect(res.headers.get('x-kthena-provider-status')).to.equal(null);
    expect(text).not.to.contain(OPENAI_KEY);
    expect(JSON.parse(text).error.message).to.equal('bad request; received authorization "Bearer [redacted]" and key ');

    anthropic.override = (req, res) => sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `key ${req.headers['x-api-key']} may not do that` } });
    const res2 = await post('claude');
    const text2 = await res2.text();
    expect(res2.status).to.equal(400);
    expect(text2).not.to.contain(ANTHROPIC_KEY);
    expect(JSON.parse(text2).error.message).to.equal('key [redacted] may not do that');
  });

  it('an error body beyond the cap is cut there, the key in it redacted', async () => {
    openai.override = (req, res) => {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`${'e'.repeat(CAP - 8)} ${req.headers.authorization} ${'z'.repeat(1 << 20)}`);
    };
    const res = await post('gpt');
    const body = Buffer.from(await res.arrayBuffer());
    expect(res.status).to.equal(500);
    expect(body.length).to.equal(CAP);
    expect(body.toString()).to.equal(`${'e'.repeat(CAP - 8)} Bearer `);
    expect(body.toString()).not.to.contain(OPENAI_KEY.slice(0, 4));
  });
});

describe('provider errors through ext_proc (Envoy-behaving client)', () => {
  let parts: RouterParts;
  let server: ExtProcServer;
  let client: EnvoyClient;

  before(async () => {
    parts = routerParts({ maxErrorBodyBytes: CAP });
    loadInto(parts.datastore, resources({ openai: 'https://api.openai.com', anthropic: 'https://api.anthropic.com' }, [], 8000));
    server = new ExtProcServer();
    const { port } = await server.start({ host: '127.0.0.1', port: 0, pipeline: parts.pipeline, maxBodyBytes: 1 << 20, messageTimeoutMs: 2000, logger: pino({ level: 'silent' }) });
    client = new EnvoyClient(`127.0.0.1:${port}`);
  });

  after(async () => {
    client.close();
    await server.stop(100);
  });

  const received = { headers: { authorization: `Bearer ${OPENAI_KEY}` } } as unknown as Received;

  for (const mode of ['FULL_DUPLEX_STREAMED', 'STREAMED', 'BUFFERED'] as ModeName[]) {
    it(`${mode}: a provider 401 gets a :status 502 mutation, the provider status header and the generic body`, async () => {
      const t = await client.exchange({ mode, body: { model: 'gpt', ...ask }, response: { status: 401, body: echoKey401(received), chunks: undefined } });
      expect(t.outcome, t.reason).to.equal('completed');
      expect(t.downstreamHeaders?.get(':status')).to.equal('502');
      expect(t.downstreamHeaders?.get('x-kthena-provider-status')).to.equal('401');
      expect(t.downstreamHeaders?.has('content-length') && mode !== 'BUFFERED').to.equal(false);
      expect(JSON.parse(t.downstreamBody.toString())).to.deep.equal(AUTH_FAILED);
    });

    it(`${mode}: an error body quoting the key comes back redacted with its status`, async () => {
      const t = await client.exchange({ mode, chunkSize: 16, body: { model: 'gpt', ...ask }, response: { status: 400, body: echoKey400(received) } });
      expect(t.outcome, t.reason).to.equal('completed');
      expect(t.downstreamHeaders?.get(':status')).to.equal('400');
      expect(t.downstreamBody.toString()).not.to.contain(OPENAI_KEY);
      expect(JSON.parse(t.downstreamBody.toString()).error.message).to.equal('bad request; received authorization "Bearer [redacted]" and key ');
    });
  }

  it('response body not sent to the processor (NONE): the 401 is replaced by an immediate 502 from the response headers phase', async () => {
    const t = await client.exchange({ mode: 'FULL_DUPLEX_STREAMED', responseMode: 'NONE', body: { model: 'gpt', ...ask }, response: { status: 401, body: echoKey401(received) } });
    expect(t.outcome, t.reason).to.equal('immediate');
    expect(t.immediate?.status).to.equal(502);
    expect(t.immediate?.headers.get('x-kthena-provider-status')).to.equal('401');
    expect(JSON.parse(t.immediate!.body.toString())).to.deep.equal(AUTH_FAILED);
  });

  it('a 2xx answer quoting the key is relayed as is (no scan of success bodies)', async () => {
    const t = await client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: { model: 'gpt', ...ask }, response: { body: { id: 'x', object: 'chat.completion', model: 'gpt-4o-mini', note: OPENAI_KEY, choices: [] } } });
    expect(t.outcome, t.reason).to.equal('completed');
    expect(t.downstreamHeaders?.get(':status')).to.equal('200');
    expect(JSON.parse(t.downstreamBody.toString()).note).to.equal(OPENAI_KEY);
  });
});
