import * as grpc from '@grpc/grpc-js';
import { CertificateDirectory } from './cert-directory.js';
import { generateSelfSignedCert } from './self-signed-cert.js';

/**
 * PEM contents of a certificate chain and its key; a directory holding `tls.crt` and `tls.key` (a Kubernetes TLS
 * Secret mounted as is), re-read every `reloadIntervalMs` when set, so a rotated Secret is served without a restart;
 * or a certificate generated at start.
 */
export type TlsOption =
  | { cert: string | Buffer; key: string | Buffer }
  | { certDir: string; reloadIntervalMs?: number }
  | 'self-signed';

export interface ServerTls {
  credentials: grpc.ServerCredentials;
  /** The certificate served at start (PEM), so callers can trust a generated one. */
  certificate?: string;
}

export function serverTls(tls: TlsOption | undefined): ServerTls {
  if (tls === undefined) return { credentials: grpc.ServerCredentials.createInsecure() };
  if (tls !== 'self-signed' && 'certDir' in tls) return dirTls(tls.certDir, tls.reloadIntervalMs);
  const pair = tls === 'self-signed' ? generateSelfSignedCert() : tls;
  const cert = Buffer.from(pair.cert);
  return {
    credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: Buffer.from(pair.key) }], false),
    certificate: cert.toString(),
  };
}

function dirTls(dir: string, reloadIntervalMs: number | undefined): ServerTls {
  const source = new CertificateDirectory(dir, reloadIntervalMs);
  const { certificate, privateKey } = source.current;
  const credentials =
    reloadIntervalMs === undefined
      ? grpc.ServerCredentials.createSsl(null, [{ cert_chain: certificate, private_key: privateKey }], false)
      : // grpc-js takes the identity provider first (its typings name that parameter after the CA).
        grpc.experimental.createCertificateProviderServerCredentials(source, null, false);
  return { credentials, certificate: certificate.toString() };
}

/** `host:port` as grpc-js expects it (IPv6 literals in brackets). */
export function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
