import { fetchJson, HttpError } from './http.js';
import { authKeySetFetchesTotal } from './metrics.js';

// OpenID Connect discovery (`<issuer>/.well-known/openid-configuration`). A success is kept for the process lifetime;
// a failure is not cached, so the next request tries again (concurrent callers share one fetch).
export class OidcDiscovery {
  private metadata: Record<string, unknown> | undefined;
  private inflight: Promise<Record<string, unknown>> | undefined;

  constructor(
    readonly issuer: string,
    private readonly timeoutMs: number,
  ) {}

  async get(): Promise<Record<string, unknown>> {
    if (this.metadata) return this.metadata;
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  /** A string field of the metadata, e.g. `jwks_uri`; throws HttpError when the issuer does not publish it. */
  async endpoint(field: string): Promise<string> {
    const value = (await this.get())[field];
    if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new HttpError(`issuer metadata lacks ${field}`);
    return value;
  }

  private async fetch(): Promise<Record<string, unknown>> {
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    try {
      const md = await fetchJson(url, { headers: { accept: 'application/json' } }, this.timeoutMs);
      // OIDC Discovery §4.3: the metadata must name the issuer we asked for.
      if (md.issuer !== this.issuer) throw new HttpError(`issuer mismatch in discovery document: ${String(md.issuer)}`);
      authKeySetFetchesTotal.inc({ result: 'ok' });
      this.metadata = md;
      return md;
    } catch (err) {
      authKeySetFetchesTotal.inc({ result: 'error' });
      throw err;
    }
  }
}
