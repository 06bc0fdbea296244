import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { FakeProvider, REPLY_WORDS } from '../../integration/providers/fake-providers.js';
import { findCluster, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';
import { spillResources, SPILL_CONFIG, untilQueued } from './fleet.js';

// Spill-over through a real Envoy running the shipped envoy/providers.yaml: the router (ext_proc) routes to the pod
// while it has room and, once it is saturated, sets x-kthena-provider so that Envoy sends the request to the
// provider's TLS cluster (here pointed at an HTTPS stand-in for OpenAI).

const POD = { ip: '127.0.118.2', port: 18_502 };
const PROVIDER_KEY = 'sk-spill-provider-envoy';

describe('spill-over to a provider under saturation (real Envoy, envoy/providers.yaml)', function () {
  this.timeout(90_000);
  const cert = generateSelfSignedCert({ altNames: ['api.openai.com', '127.0.0.1'] });
  let dir: string;
  let provider: FakeProvider;
  let sim: SimProcess;
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-spill-envoy-'));
    provider = await FakeProvider.start('openai', cert, PROVIDER_KEY);
    await writeFile(join(dir, 'ca.pem'), cert.cert);
    await writeFile(join(dir, 'config.yaml'), SPILL_CONFIG(join(dir, 'ca.pem')));
    // The provider keeps the name the shipped bootstrap routes on (default/openai) and its public host name.
    await writeFile(join(dir, 'fleet.yaml'), spillResources(POD, 'https://api.openai.com', PROVIDER_KEY));
    sim = await startSimProcess(POD.ip, POD.port, ['--model', 'llama', '--max-num-seqs', '1', '--decode-base-ms', '20']);
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')]);
    const cfg = loadBootstrap('envoy/providers.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    for (const name of ['provider_default_openai', 'provider_default_claude']) {
      setClusterEndpoints(cfg, name, [{ host: '127.0.0.1', port: provider.port }]);
      // The stand-in's certificate is self-signed: trust it as spec.insecureSkipVerify would (no validation context).
      delete findCluster(cfg, name).transport_socket.typed_config.common_tls_context.validation_context;
    }
    envoy = await startEnvoy(cfg);
    await envoy.waitHealthy('kthena_router', 1);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await sim?.kill();
    await provider?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const ask = (maxTokens: number) =>
    fetch(`${envoy.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mixed', messages: [{ role: 'user', content: 'hello there' }], max_tokens: maxTokens }),
    });

  it('serves from the pod while it has room and spills to the provider cluster while it is saturated', async () => {
    const first = await ask(4);
    expect(first.status).to.equal(200);
    expect(((await first.json()) as any).choices[0].message.content).to.not.equal(REPLY_WORDS.join(''));
    expect(provider.received).to.have.length(0);

    const busy = [ask(200), ask(200)];
    await untilQueued(POD);
    await new Promise((r) => setTimeout(r, 500)); // ten scrape intervals: the router has seen the queue
    const res = await ask(4);
    expect(res.status).to.equal(200);
    const answer = (await res.json()) as any;
    expect(answer.choices[0].message.content).to.equal(REPLY_WORDS.join(''));
    expect(answer.model).to.equal('mixed');
    expect(provider.received).to.have.length(1);
    expect(provider.received[0]!.headers.authorization).to.equal(`Bearer ${PROVIDER_KEY}`);
    const metrics = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    expect(metrics).to.match(/kthena_router_spillover_requests_total\{route="default\/mixed",provider="provider:default\/openai"\} 1/);
    for (const r of busy) expect((await r).status).to.equal(200);
  });
});
