import * as grpc from '@grpc/grpc-js';
import { generateSelfSignedCert } from './self-signed-cert.js';

/** PEM contents of a certificate chain and its key, or a certificate generated at start. */
export type TlsOption = { cert: string | Buffer; key: string | Buffer } | 'self-signed';

export interface ServerTls {
  credentials: grpc.ServerCredentials;
  /** The certificate served (PEM), so callers can trust a generated one. */
  certificate?: string;
}

export function serverTls(tls: TlsOption | undefined): ServerTls {
  if (tls === undefined) return { credentials: grpc.ServerCredentials.createInsecure() };
  const pair = tls === 'self-signed' ? generateSelfSignedCert() : tls;
  const cert = Buffer.from(pair.cert);
  return {
    credentials: grpc.ServerCredentials.createSsl(null, [{ cert_chain: cert, private_key: Buffer.from(pair.key) }], false),
    certificate: cert.toString(),
  };
}

/** `host:port` as grpc-js expects it (IPv6 literals in brackets). */
export function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}
