import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { findCluster, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyBootstrap, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';
import { FakeProvider, REPLY_WORDS } from '../../integration/providers/fake-providers.js';
import { chat, resourcesDir, sseEvents, userMessage } from './harness.js';

const PORT = 18_450;
const POD_IP = '127.0.1.51';
const PROVIDER_IP = '127.0.1.52';
const OPENAI_KEY = 'sk-openai-provider-key-e2e';
const ANTHROPIC_KEY = 'sk-ant-provider-key-e2e';

const PROVIDERS = `
apiVersion: v1
kind: Secret
metadata: {name: provider-keys}
stringData: {openai: ${OPENAI_KEY}, anthropic: ${ANTHROPIC_KEY}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata: {name: openai}
spec:
  providerType: OpenAI
  model: gpt-4o-mini
  baseURL: https://api.openai.com/v1
  auth: {scheme: Bearer, secretRef: {name: provider-keys, key: openai}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata: {name: claude}
spec:
  providerType: Anthropic
  model: claude-sonnet-4-5
  baseURL: https://api.anthropic.com
  auth: {scheme: APIKey, secretRef: {name: provider-keys, key: anthropic}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: gpt}
spec: {modelName: gpt, rules: [{targetModels: [{externalModelProviderName: openai}]}]}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: claude}
spec: {modelName: claude, rules: [{targetModels: [{externalModelProviderName: claude}]}]}
`;

/** Points a provider cluster of providers.yaml at a local stand-in, trusting its certificate; SNI and SAN check stay. */
function toStandIn(cfg: EnvoyBootstrap, cluster: string, port: number, caFile: string): void {
  setClusterEndpoints(cfg, cluster, [{ host: PROVIDER_IP, port }]);
  findCluster(cfg, cluster).transport_socket.typed_config.common_tls_context.validation_context.trusted_ca = { filename: caFile };
}

// envoy/providers.yaml: the router picks a provider (x-kthena-provider, :authority, :path, credential) and Envoy's
// per-provider TLS cluster reaches it. The providers are HTTPS stand-ins on loopback with a certificate for the real
// host names; only addresses and the trusted CA are rewritten. A local model goes to its pod through the same Envoy.
describe('e2e through real Envoy: external providers (envoy/providers.yaml)', function () {
  this.timeout(120_000);
  let res: Awaited<ReturnType<typeof resourcesDir>>;
  let certDir: string;
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let sim: SimProcess;
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    const cert = generateSelfSignedCert({ commonName: 'api.openai.com', altNames: ['api.openai.com', 'api.anthropic.com'] });
    certDir = await mkdtemp(join(tmpdir(), 'kthena-provider-ca-'));
    const caFile = join(certDir, 'ca.pem');
    await writeFile(caFile, cert.cert);
    openai = await FakeProvider.start('openai', cert, OPENAI_KEY, PROVIDER_IP);
    anthropic = await FakeProvider.start('anthropic', cert, ANTHROPIC_KEY, PROVIDER_IP);
    res = await resourcesDir(
      documents(
        modelServerYaml('llama', { port: PORT, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
        modelRouteYaml('llama', 'llama'),
        podYaml('llama-0', POD_IP, 'llama'),
        PROVIDERS,
      ),
      'router: {messageTimeoutMs: 2000}\n',
    );
    sim = await startSimProcess(POD_IP, PORT, ['--time-scale', '0', '--max-tokens-cap', '2']);
    router = await startRouterProcess(['--resources', res.dir, '--config', res.config]);
    const cfg = loadBootstrap('envoy/providers.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    toStandIn(cfg, 'provider_default_openai', openai.port, caFile);
    toStandIn(cfg, 'provider_default_claude', anthropic.port, caFile);
    envoy = await startEnvoy(cfg);
    await envoy.waitHealthy('kthena_router', 1);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await sim?.kill();
    await openai?.close();
    await anthropic?.close();
    await res?.remove();
    if (certDir) await rm(certDir, { recursive: true, force: true });
  });

  it('an OpenAI-backed model reaches the provider over TLS with its key and model; the client key never does', async () => {
    const r = await chat(envoy.url, { model: 'gpt', messages: userMessage('hi') }, { authorization: 'Bearer client-secret' });
    expect(r.status, r.text).to.equal(200);
    expect(JSON.parse(r.text).model).to.equal('gpt');
    const got = openai.received.at(-1)!;
    expect(got.path).to.equal('/v1/chat/completions');
    expect(got.headers.host).to.equal('api.openai.com');
    expect(got.headers.authorization).to.equal(`Bearer ${OPENAI_KEY}`);
    expect(got.headers['x-kthena-provider'], 'routing header removed before the provider').to.equal(undefined);
    expect(got.json.model).to.equal('gpt-4o-mini');
  });

  it('an Anthropic-backed model streams back as OpenAI chunks', async () => {
    const r = await chat(envoy.url, { model: 'claude', messages: userMessage('hi'), max_tokens: 8, stream: true });
    expect(r.status, r.text).to.equal(200);
    const got = anthropic.received.at(-1)!;
    expect(got.path).to.equal('/v1/messages');
    expect(got.headers['x-api-key']).to.equal(ANTHROPIC_KEY);
    expect(got.headers.authorization).to.equal(undefined);
    const text = sseEvents(r.text)
      .map((e) => e.choices?.[0]?.delta?.content ?? '')
      .join('');
    expect(text).to.equal(REPLY_WORDS.join(''));
  });

  it('a local model goes to its pod through the same Envoy', async () => {
    const before = openai.received.length + anthropic.received.length;
    const r = await chat(envoy.url, { model: 'llama', messages: userMessage('hi'), max_tokens: 2 });
    expect(r.status, r.text).to.equal(200);
    expect(JSON.parse(r.text).model).to.equal('llama');
    expect(openai.received.length + anthropic.received.length).to.equal(before);
  });
});
