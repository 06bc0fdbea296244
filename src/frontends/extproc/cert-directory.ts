import type { experimental } from '@grpc/grpc-js';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '../../config/errors.js';
import { logger } from '../../observability/logger.js';

type IdentityUpdate = experimental.IdentityCertificateUpdate;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

/**
 * The serving certificate from a directory with `tls.crt` and `tls.key` (a Kubernetes TLS Secret mounted as is),
 * re-read every `intervalMs` (when given) while a server uses it. Unlike grpc-js's file watcher, a pair that does not parse or
 * does not match (a half-written rotation) is reported and skipped: the last good pair keeps being served instead of
 * every new connection being refused.
 */
export class CertificateDirectory implements experimental.CertificateProvider {
  private latest: IdentityUpdate;
  private readonly listeners = new Set<IdentityListener>();
  private timer: NodeJS.Timeout | undefined;
  /** The last reload failure reported, so that a lasting one is logged once. */
  private failure: string | undefined;

  /** Reads and checks the pair now: a bad one fails the start with a message naming the files. */
  constructor(
    private readonly dir: string,
    private readonly intervalMs?: number,
  ) {
    try {
      this.latest = checkedPair(readFileSync(this.certFile), readFileSync(this.keyFile));
    } catch (err) {
      throw new ConfigError(`TLS certificate in ${dir} (tls.crt, tls.key): ${(err as Error).message}`);
    }
  }

  /** The pair served now. */
  get current(): IdentityUpdate {
    return this.latest;
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.add(listener);
    // Not synchronously: grpc-js registers its own watcher right after adding this listener.
    process.nextTick(() => this.listeners.has(listener) && listener(this.latest));
    if (this.intervalMs !== undefined) this.timer ??= setInterval(() => void this.reload(), this.intervalMs);
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.listeners.delete(listener);
    if (this.listeners.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  // No client certificates are requested: there is no CA to provide.
  addCaCertificateListener(): void {}
  removeCaCertificateListener(): void {}

  private get certFile(): string {
    return join(this.dir, 'tls.crt');
  }

  private get keyFile(): string {
    return join(this.dir, 'tls.key');
  }

  private async reload(): Promise<void> {
    let next: IdentityUpdate;
    try {
      next = checkedPair(await readFile(this.certFile), await readFile(this.keyFile));
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.failure) logger.warn({ dir: this.dir, err: message }, 'TLS certificate not reloaded: keeping the previous one');
      this.failure = message;
      return;
    }
    this.failure = undefined;
    if (next.certificate.equals(this.latest.certificate) && next.privateKey.equals(this.latest.privateKey)) return;
    this.latest = next;
    logger.info({ dir: this.dir, validTo: new X509Certificate(next.certificate).validTo }, 'TLS certificate reloaded');
    for (const listener of this.listeners) listener(next);
  }
}

function checkedPair(certificate: Buffer, privateKey: Buffer): IdentityUpdate {
  const cert = new X509Certificate(certificate);
  if (!cert.checkPrivateKey(createPrivateKey(privateKey))) throw new Error('tls.key does not match tls.crt');
  return { certificate, privateKey };
}
