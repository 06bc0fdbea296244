import { X509Certificate, createPublicKey } from 'node:crypto';
import { join } from 'node:path';
import { expect } from 'chai';
import { withDeadline } from '../../../src/frontends/extproc/deadline.js';
import { loadProtos, protoDir } from '../../../src/frontends/extproc/proto.js';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';

describe('extproc proto loading', () => {
  it('finds proto/ from the source tree and from the compiled dist/src tree', () => {
    const fromSrc = protoDir();
    expect(fromSrc.endsWith('/proto')).to.equal(true);
    const root = join(fromSrc, '..');
    expect(protoDir(join(root, 'dist', 'src', 'frontends', 'extproc'))).to.equal(fromSrc);
  });

  it('loads the ext_proc and health services and the status codes Envoy accepts', () => {
    const protos = loadProtos();
    expect(Object.keys(protos.extProcService)).to.deep.equal(['Process']);
    expect(protos.extProcService.Process!.path).to.equal('/envoy.service.ext_proc.v3.ExternalProcessor/Process');
    expect(protos.healthService.Check!.path).to.equal('/grpc.health.v1.Health/Check');
    expect(protos.httpStatusCodes.has(413)).to.equal(true);
    expect(protos.httpStatusCodes.has(418)).to.equal(false);
  });
});

describe('extproc self-signed certificate', () => {
  it('is a valid self-signed X.509 certificate for localhost and 127.0.0.1', () => {
    const { cert, key } = generateSelfSignedCert();
    const x509 = new X509Certificate(cert);
    expect(x509.subject).to.equal('CN=kthena-router');
    expect(x509.issuer).to.equal(x509.subject);
    expect(x509.subjectAltName).to.equal('DNS:localhost, IP Address:127.0.0.1');
    expect(x509.verify(createPublicKey(key))).to.equal(true);
    expect(x509.checkHost('localhost')).to.equal('localhost');
    expect(new Date(x509.validTo).getTime()).to.be.greaterThan(Date.now() + 300 * 86_400_000);
  });
});

describe('extproc decision deadline', () => {
  it('returns the value when work beats the deadline', async () => {
    expect(await withDeadline(Promise.resolve(7), 50, () => undefined)).to.deep.equal({ ok: true, value: 7 });
  });

  it('times out and hands the late value over for release', async () => {
    let late: number | undefined;
    const work = new Promise<number>((r) => setTimeout(() => r(9), 40));
    expect(await withDeadline(work, 5, (v) => (late = v))).to.deep.equal({ ok: false });
    await work;
    await new Promise((r) => setImmediate(r));
    expect(late).to.equal(9);
  });

  it('propagates a rejection before the deadline', async () => {
    let caught: unknown;
    await withDeadline(Promise.reject(new Error('nope')), 50, () => undefined).catch((e: unknown) => (caught = e));
    expect((caught as Error).message).to.equal('nope');
  });
});
