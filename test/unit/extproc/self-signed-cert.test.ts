import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { X509Certificate, createPublicKey } from 'node:crypto';
import { connect } from 'node:tls';
import { generateSelfSignedCert, type CertificatePair } from '../../../src/frontends/extproc/self-signed-cert.js';

// The generated certificate used to be invalid about 1 time in 256 (a serial with a leading 0x00 byte: illegal DER
// padding), so --secure-serving without --cert-path failed to start at random. 3,000 draws catch that with
// probability 1 - (255/256)^3000 > 0.99999.

const DRAWS = 3_000;

/** Subject of a TLS handshake on a gRPC server bound with the pair, verifying the certificate as its own CA. */
async function handshake(pair: CertificatePair): Promise<string> {
  const server = new grpc.Server();
  const credentials = grpc.ServerCredentials.createSsl(null, [{ cert_chain: Buffer.from(pair.cert), private_key: Buffer.from(pair.key) }]);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', credentials, (err, p) => (err ? reject(err) : resolve(p))),
  );
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['h2'], ca: pair.cert }, () => {
        resolve(socket.getPeerCertificate().subject.CN as string);
        socket.destroy();
      });
      socket.on('error', reject);
    });
  } finally {
    server.forceShutdown();
  }
}

describe('self-signed certificate', () => {
  it(`is valid DER with a positive serial in ${DRAWS} draws`, function () {
    this.timeout(120_000);
    const failures: string[] = [];
    for (let i = 0; i < DRAWS; i++) {
      const pair = generateSelfSignedCert();
      try {
        const cert = new X509Certificate(pair.cert); // throws on illegal DER ("illegal padding")
        if (!cert.verify(createPublicKey(pair.key))) throw new Error('signature does not verify');
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    expect(failures.length, `${failures.length} invalid, e.g. ${failures[0]}`).to.equal(0);
  });

  it('binds a gRPC TLS server and completes a verified handshake', async function () {
    this.timeout(60_000);
    for (let i = 0; i < 8; i++) expect(await handshake(generateSelfSignedCert({ commonName: `cn-${i}` }))).to.equal(`cn-${i}`);
  });
});
