import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';

// `kthena-router --secure-serving --cert-path DIR`, as the gateway examples run it: ext_proc over TLS with the mounted
// certificate, picks as usual; a plaintext client (a gateway configured for h2c) gets nothing.

const PORT = 18_100;
const IP = '127.0.0.57';

describe('router process with --secure-serving', function () {
  this.timeout(30_000);
  let dir: string;
  let engine: FakeEngine;
  let router: RouterProcess;
  const pair = generateSelfSignedCert({ commonName: 'kthena-router' });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-secure-'));
    await writeFile(join(dir, 'tls.crt'), pair.cert);
    await writeFile(join(dir, 'tls.key'), pair.key);
    await writeFile(
      join(dir, 'fleet.yaml'),
      documents(modelServerYaml('llama', { port: PORT }), modelRouteYaml('llama', 'llama'), podYaml('llama-0', IP, 'llama')),
    );
    engine = await startFakeEngine({ host: IP, port: PORT, engine: 'vllm' });
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--secure-serving', '--cert-path', dir, '--enable-cert-reload']);
    await until(() => engine.scrapes > 0, 5000, 'engine scraped');
  });

  after(async () => {
    await router?.stop();
    await engine?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('picks over TLS with the mounted certificate and says so when ready', async () => {
    expect(router.logs.find((l) => l.msg === 'kthena-router ready')?.extproc).to.equal('tls');
    const envoy = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`, { certificate: String(pair.cert) });
    try {
      const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: { model: 'llama', messages: [{ role: 'user', content: 'hi' }] } });
      expect(t.outcome, t.reason).to.equal('completed');
      expect(t.destination).to.equal(`${IP}:${PORT}`);
    } finally {
      envoy.close();
    }
  });

  it('refuses to start on a missing certificate with exit code 2 and a one-line reason', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'src/main.ts', '--secure-serving', '--cert-path', join(dir, 'nope'),
      '--host', '127.0.0.1', '--grpc-port', '0', '--health-port', '0', '--http-port', '0', '--metrics-port', '0'],
    { cwd: new URL('../../..', import.meta.url).pathname, encoding: 'utf8', timeout: 20_000 });
    expect(r.status).to.equal(2);
    expect(r.stderr.trim()).to.match(/^kthena-router: TLS certificate in .*nope \(tls\.crt, tls\.key\): ENOENT/);
    expect(r.stderr).not.to.contain('    at ');
  });

  it('gives a plaintext client nothing', async () => {
    const plaintext = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    try {
      const t = await plaintext.exchange({ mode: 'BUFFERED', body: { model: 'llama' }, idleTimeoutMs: 2_000, messageTimeoutMs: 2_000 });
      expect(t.outcome).to.equal('envoy_error');
    } finally {
      plaintext.close();
    }
  });
});
