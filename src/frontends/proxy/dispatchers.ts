import { rootCertificates } from 'node:tls';
import { Agent, type Dispatcher } from 'undici';
import type { UpstreamPolicy } from '../../core/types.js';

export interface DispatcherOptions {
  connectTimeoutMs: number;
  keepAliveMs: number;
  /** TLS for `https` pods (all pods share it). */
  podTls?: { ca?: string | Buffer; rejectUnauthorized?: boolean };
}

/**
 * Connection pools: one for pods, and one per distinct TLS setting of external providers (verification on or off,
 * an extra CA), made on first use. A provider's extra CA is trusted besides the system roots, not instead of them;
 * SNI and hostname checks follow the provider's host name.
 */
export class Dispatchers {
  private readonly pods: Agent;
  private readonly providers = new Map<string, Agent>();

  constructor(private readonly opts: DispatcherOptions) {
    this.pods = new Agent({
      keepAliveTimeout: opts.keepAliveMs,
      connect: { timeout: opts.connectTimeoutMs, ...(opts.podTls ?? {}) },
    });
  }

  for(upstream: UpstreamPolicy): Dispatcher {
    const tls = upstream.tls;
    if (!tls) return this.pods;
    const key = `${tls.insecureSkipVerify}|${tls.extraCa ?? ''}`;
    let agent = this.providers.get(key);
    if (!agent) {
      agent = new Agent({
        keepAliveTimeout: this.opts.keepAliveMs,
        connect: {
          timeout: this.opts.connectTimeoutMs,
          rejectUnauthorized: !tls.insecureSkipVerify,
          ...(tls.extraCa !== undefined && { ca: [...rootCertificates, tls.extraCa] }),
        },
      });
      this.providers.set(key, agent);
    }
    return agent;
  }

  async destroy(): Promise<void> {
    await Promise.all([this.pods.destroy(), ...[...this.providers.values()].map((a) => a.destroy())]);
  }
}
