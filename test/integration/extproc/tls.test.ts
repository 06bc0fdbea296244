import { expect } from 'chai';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { generateSelfSignedCert, type CertificatePair } from '../../../src/frontends/extproc/self-signed-cert.js';
import { EnvoyClient } from '../../support/envoy-client.js';
import { until } from '../../support/router-process.js';
import { CHAT, startFixture } from './support/fixture.js';

// --secure-serving with --cert-path (a mounted TLS Secret) and --enable-cert-reload: the files are served, and a
// rotated certificate is served to new connections without a restart.

const fingerprint = (pem: string | Buffer) => new X509Certificate(pem).fingerprint256;

/** The certificate a new TLS connection (ALPN h2, as gRPC) is shown. */
function servedFingerprint(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], rejectUnauthorized: false }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.on('error', reject);
  });
}

async function writePair(dir: string, pair: CertificatePair): Promise<void> {
  await writeFile(join(dir, 'tls.key'), pair.key);
  await writeFile(join(dir, 'tls.crt'), pair.cert);
}

describe('ext_proc over TLS from a certificate directory', () => {
  let dir: string;
  const first = generateSelfSignedCert({ commonName: 'first' });
  const second = generateSelfSignedCert({ commonName: 'second' });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-tls-'));
    await writePair(dir, first);
  });
  afterEach(() => rm(dir, { recursive: true, force: true }));

  it('serves tls.crt / tls.key and picks up a rotated certificate when reloading', async () => {
    const f = await startFixture({ tls: { certDir: dir, reloadIntervalMs: 100 } });
    const port = Number(f.address.split(':')[1]);
    try {
      expect(fingerprint(f.certificate!)).to.equal(fingerprint(first.cert));
      expect(await servedFingerprint(port)).to.equal(fingerprint(first.cert));
      expect((await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT })).outcome).to.equal('completed');

      await writePair(dir, second);
      await until(async () => (await servedFingerprint(port)) === fingerprint(second.cert), 5_000);
      const rotated = new EnvoyClient(f.address, { certificate: String(second.cert) });
      try {
        const t = await rotated.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT });
        expect(t.outcome, t.reason).to.equal('completed');
      } finally {
        rotated.close();
      }
    } finally {
      await f.close();
    }
  });

  it('keeps serving the last good certificate when a rotation leaves a broken or mismatched pair', async () => {
    const f = await startFixture({ tls: { certDir: dir, reloadIntervalMs: 100 } });
    const port = Number(f.address.split(':')[1]);
    try {
      await writeFile(join(dir, 'tls.crt'), second.cert); // the new certificate with the old key
      await new Promise((r) => setTimeout(r, 350));
      expect(await servedFingerprint(port)).to.equal(fingerprint(first.cert));
      await writeFile(join(dir, 'tls.key'), 'garbage');
      await new Promise((r) => setTimeout(r, 350));
      expect(await servedFingerprint(port)).to.equal(fingerprint(first.cert));
      expect((await f.client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT })).outcome).to.equal('completed');
      await writeFile(join(dir, 'tls.key'), second.key); // the rotation completes
      await until(async () => (await servedFingerprint(port)) === fingerprint(second.cert), 5_000);
    } finally {
      await f.close();
    }
  });

  it('keeps the certificate it started with when not reloading', async () => {
    const f = await startFixture({ tls: { certDir: dir } });
    const port = Number(f.address.split(':')[1]);
    try {
      await writePair(dir, second);
      await new Promise((r) => setTimeout(r, 300));
      expect(await servedFingerprint(port)).to.equal(fingerprint(first.cert));
    } finally {
      await f.close();
    }
  });

  it('refuses to start on a missing or broken certificate, naming the files', async () => {
    await rm(join(dir, 'tls.key'));
    let err: Error | undefined;
    try {
      await startFixture({ tls: { certDir: dir } });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/tls\.crt, tls\.key/);
    await writeFile(join(dir, 'tls.key'), 'not a key');
    await writeFile(join(dir, 'tls.crt'), first.cert);
    err = undefined;
    try {
      await startFixture({ tls: { certDir: dir, reloadIntervalMs: 100 } });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/TLS certificate in .*tls\.crt, tls\.key/);
    await writeFile(join(dir, 'tls.key'), second.key);
    err = undefined;
    try {
      await startFixture({ tls: { certDir: dir } });
    } catch (e) {
      err = e as Error;
    }
    expect(err?.message).to.match(/tls\.key does not match tls\.crt/);
  });
});
