import { expect } from 'chai';
import { SignJWT } from 'jose';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';
import { chat, resourcesDir, userMessage, type Reply } from './harness.js';

const PORT = 18_440;
const IP = '127.0.1.41';
const ISSUER = 'https://idp.kthena.test';
const SECRET = 'a-shared-secret-of-at-least-32-bytes-for-hs256';

const CONFIG = `
router: {messageTimeoutMs: 2000}
auth:
  apiKeys:
    keys:
      - {key: sk-alice-0123456789, user: alice, models: [llama, tight]}
      - {key: sk-bob-0123456789, user: bob, models: [other]}
  jwt:
    issuer: ${ISSUER}
    audiences: [kthena-router]
    keys: [{kid: ci, alg: HS256, secret: "${SECRET}"}]
rateLimit:
  users:
    carol: {requestsPerUnit: 2, unit: minute}
`;

function jwt(sub: string, exp: string | number = '5m'): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: 'HS256', kid: 'ci' })
    .setIssuer(ISSUER)
    .setAudience('kthena-router')
    .setSubject(sub)
    .setIssuedAt()
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(SECRET));
}

function expectError(r: Reply, status: number, code: string): void {
  expect(r.status, r.text).to.equal(status);
  expect(r.headers.get('content-type')).to.contain('application/json');
  expect(JSON.parse(r.text).error.code).to.equal(code);
}

// Authentication and request/token limits decided by the router, answered through envoy/envoy.yaml: status, JSON body
// and headers (WWW-Authenticate, Retry-After, x-ratelimit-*) must reach the client intact.
describe('e2e through real Envoy: auth and rate limits (envoy/envoy.yaml)', function () {
  this.timeout(120_000);
  let res: Awaited<ReturnType<typeof resourcesDir>>;
  let sim: SimProcess;
  let router: RouterProcess;
  let envoy: EnvoyProcess;
  const ask = (model: string, headers: Record<string, string>, content = 'hi') =>
    chat(envoy.url, { model, messages: userMessage(content), max_tokens: 2 }, headers);

  before(async () => {
    res = await resourcesDir(
      documents(
        modelServerYaml('llama', { port: PORT, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
        modelRouteYaml('llama', 'llama'),
        modelRouteYaml('tight', 'llama', ['  rateLimit: {inputTokensPerUnit: 60, unit: minute}']),
        podYaml('llama-0', IP, 'llama'),
      ),
      CONFIG,
    );
    sim = await startSimProcess(IP, PORT, ['--time-scale', '0', '--max-tokens-cap', '2']);
    router = await startRouterProcess(['--resources', res.dir, '--config', res.config]);
    envoy = await startEnvoyFor(router.ports.grpc);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await sim?.kill();
    await res?.remove();
  });

  it('API key: 401 without or with a wrong key, 403 for a model the key may not use, 200 otherwise', async () => {
    const none = await ask('llama', {});
    expectError(none, 401, 'missing_credentials');
    expect(none.headers.get('www-authenticate')).to.match(/^Bearer realm="kthena-router"/);
    expectError(await ask('llama', { 'x-api-key': 'sk-nobody-0123456789' }), 401, 'invalid_api_key');
    expectError(await ask('llama', { authorization: 'Bearer sk-bob-0123456789' }), 403, 'model_not_allowed');
    const ok = await ask('llama', { authorization: 'Bearer sk-alice-0123456789' });
    expect(ok.status, ok.text).to.equal(200);
    expect(JSON.parse(ok.text).model).to.equal('llama');
  });

  it('JWT: a valid token is served, an expired one is 401 token_expired', async () => {
    const ok = await ask('llama', { authorization: `Bearer ${await jwt('dave')}` });
    expect(ok.status, ok.text).to.equal(200);
    const expired = await ask('llama', { authorization: `Bearer ${await jwt('dave', Math.floor(Date.now() / 1000) - 600)}` });
    expectError(expired, 401, 'token_expired');
  });

  it('request limit: the third request of a 2-per-minute user is 429 with Retry-After', async () => {
    const token = await jwt('carol');
    for (let i = 0; i < 2; i++) {
      const r = await ask('llama', { authorization: `Bearer ${token}` });
      expect(r.status, r.text).to.equal(200);
      expect(r.headers.get('x-ratelimit-limit-requests')).to.equal('2');
    }
    const limited = await ask('llama', { authorization: `Bearer ${token}` });
    expectError(limited, 429, 'rate_limit_exceeded');
    expect(Number(limited.headers.get('retry-after'))).to.be.within(1, 60);
    expect(limited.headers.get('x-ratelimit-remaining-requests')).to.equal('0');
  });

  it('input-token limit: a route budget of 60 tokens a minute admits a prompt, then answers 429 with Retry-After', async () => {
    const key = { 'x-api-key': 'sk-alice-0123456789' };
    const prompt = 'count these words please '.repeat(8);
    const first = await ask('tight', key, prompt);
    expect(first.status, first.text).to.equal(200);
    let limited: Reply | undefined;
    for (let i = 0; i < 3 && !limited; i++) {
      const r = await ask('tight', key, prompt);
      if (r.status === 429) limited = r;
    }
    expect(limited, 'a 429 within three more requests').not.to.equal(undefined);
    expectError(limited!, 429, 'rate_limit_exceeded');
    expect(JSON.parse(limited!.text).error.message).to.match(/input token/);
    expect(Number(limited!.headers.get('retry-after'))).to.be.within(1, 60);
    const huge = await ask('tight', key, 'far too long for the whole budget '.repeat(40));
    expectError(huge, 429, 'request_too_large');
  });
});
