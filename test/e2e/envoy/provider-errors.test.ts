import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { findCluster, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { echoKey400, echoKey401, FakeProvider, REPLY_WORDS, sendJson } from '../../integration/providers/fake-providers.js';
import { ANTHROPIC_KEY, OPENAI_KEY, resources } from '../../integration/providers/setup.js';

// envoy/providers.yaml as shipped, its provider clusters pointed at local HTTPS stand-ins (TLS still verified, against
// the stand-ins' certificate for api.openai.com / api.anthropic.com), with the real router process: Envoy 1.40 applies
// the router's `:status` mutation on the response headers phase and its replaced error bodies.

const OPENAI_IP = '127.0.0.171';
const ANTHROPIC_IP = '127.0.0.172';
const AUTH_FAILED = { error: { message: "the model provider rejected the router's credentials", type: 'server_error', param: null, code: 'provider_auth_failed' } };

describe('e2e through real Envoy: provider errors with envoy/providers.yaml', function () {
  this.timeout(120_000);
  const cert = generateSelfSignedCert({ altNames: ['api.openai.com', 'api.anthropic.com'] });
  let dir: string;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    openai = await FakeProvider.start('openai', cert, OPENAI_KEY, OPENAI_IP);
    anthropic = await FakeProvider.start('anthropic', cert, ANTHROPIC_KEY, ANTHROPIC_IP);
    dir = await mkdtemp(join(tmpdir(), 'kthena-provider-errors-'));
    const objects = resources({ openai: 'https://api.openai.com', anthropic: 'https://api.anthropic.com' }, [], 8000);
    await writeFile(join(dir, 'providers.yaml'), objects.map((o) => JSON.stringify(o)).join('\n---\n'));
    router = await startRouterProcess(['--resources', dir]);

    const cfg = loadBootstrap('envoy/providers.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    for (const [cluster, stand] of [['provider_default_openai', openai], ['provider_default_claude', anthropic]] as const) {
      setClusterEndpoints(cfg, cluster, [{ host: stand === openai ? OPENAI_IP : ANTHROPIC_IP, port: stand.port }]);
      findCluster(cfg, cluster).transport_socket.typed_config.common_tls_context.validation_context.trusted_ca = { inline_string: cert.cert };
    }
    envoy = await startEnvoy(cfg);
    await envoy.waitHealthy('kthena_router', 1);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await Promise.all([openai?.close(), anthropic?.close()]);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  afterEach(() => {
    openai.override = undefined;
    anthropic.override = undefined;
  });

  const post = (model: string, extra: object = {}) =>
    fetch(`${envoy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: 'Bearer client-key' },
      body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello' }], ...extra }),
    });

  it('a healthy provider answers through Envoy, unchanged', async () => {
    const res = await post('gpt');
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { model: string; choices: Array<{ message: { content: string } }> };
    expect(body.model).to.equal('gpt');
    expect(body.choices[0]!.message.content).to.equal(REPLY_WORDS.join(''));
    expect(openai.received.at(-1)!.headers.authorization).to.equal(`Bearer ${OPENAI_KEY}`);
  });

  for (const [model, status] of [['gpt', 401], ['claude', 403]] as const) {
    it(`a provider ${status} (${model}) reaches the client as 502 provider_auth_failed, x-kthena-provider-status: ${status}`, async () => {
      const stand = model === 'gpt' ? openai : anthropic;
      stand.override = (_req, res) => sendJson(res, status, echoKey401({ headers: { authorization: `Bearer ${OPENAI_KEY}` } }));
      const res = await post(model);
      const text = await res.text();
      expect(res.status, text).to.equal(502);
      expect(res.headers.get('x-kthena-provider-status')).to.equal(String(status));
      expect(res.headers.get('content-type')).to.equal('application/json');
      expect(JSON.parse(text)).to.deep.equal(AUTH_FAILED);
      expect(stand.received.length).to.be.greaterThan(0);
    });
  }

  it('a provider 400 quoting the injected credential reaches the client with the credential redacted', async () => {
    openai.override = (req, res) => sendJson(res, 400, echoKey400(req));
    const res = await post('gpt');
    const text = await res.text();
    expect(res.status, text).to.equal(400);
    expect(text).not.to.contain(OPENAI_KEY);
    expect(JSON.parse(text).error.message).to.equal('bad request; received authorization "Bearer [redacted]" and key ');

    anthropic.override = (req, res) => sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: `key ${req.headers['x-api-key']} may not do that` } });
    const res2 = await post('claude');
    const text2 = await res2.text();
    expect(res2.status, text2).to.equal(400);
    expect(text2).not.to.contain(ANTHROPIC_KEY);
    expect(JSON.parse(text2).error.message).to.equal('key [redacted] may not do that');
  });
});
