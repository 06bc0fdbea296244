import { logger } from '../../observability/logger.js';
import { principalFromClaims } from './claims.js';
import type { OAuth2Config } from './config.js';
import { OidcDiscovery } from './discovery.js';
import { AuthError, authUnavailable, invalidToken } from './errors.js';
import { fetchJson } from './http.js';
import { authIntrospectionsTotal } from './metrics.js';
import { ThrottledLog } from './throttled-log.js';
import { credentialKey, TtlCache } from './ttl-cache.js';
import type { Principal } from './types.js';

// Opaque OAuth 2.0 access tokens, checked with token introspection (RFC 7662).
//  - Results are cached by the token's SHA-256 (the token itself is never stored): active tokens for
//    min(cacheTtlSeconds, time to `exp`), inactive ones for negativeCacheTtlSeconds. A revoked token therefore stays
//    usable for at most cacheTtlSeconds; set it to 0 for immediate revocation at the cost of one call per request.
//  - Concurrent requests with the same token share one call (single-flight).
//  - Each call is bounded by timeoutMs; an unreachable or failing server gives 503 and is not cached.

interface CacheEntry {
  expiresAt: number;
  principal?: Principal;
  failure?: AuthError;
}

const log = new ThrottledLog(logger);

export class Introspector {
  private readonly cache: TtlCache<CacheEntry>;
  private readonly inflight = new Map<string, Promise<CacheEntry>>();
  private readonly discovery: OidcDiscovery | undefined;

  constructor(private readonly config: OAuth2Config) {
    this.cache = new TtlCache(config.cacheMaxEntries);
    this.discovery = config.issuer && !config.introspectionEndpoint ? new OidcDiscovery(config.issuer, config.timeoutMs) : undefined;
  }

  async introspect(token: string): Promise<Principal> {
    const key = credentialKey(token);
    let entry = this.cache.get(key);
    if (!entry) {
      let pending = this.inflight.get(key);
      if (!pending) {
        pending = this.call(token).finally(() => this.inflight.delete(key));
        this.inflight.set(key, pending);
      }
      entry = await pending;
      this.cache.set(key, entry, entry.expiresAt);
    }
    if (entry.failure) throw entry.failure;
    return entry.principal!;
  }

  close(): void {
    this.cache.clear();
  }

  private async call(token: string): Promise<CacheEntry> {
    const { clientId, clientSecret, clientAuthMethod, timeoutMs } = this.config;
    const form = new URLSearchParams({ token, token_type_hint: 'access_token' });
    const headers: Record<string, string> = {
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    };
    if (clientAuthMethod === 'client_secret_basic') {
      // RFC 6749 §2.3.1: form-urlencode id and secret before base64.
      const basic = `${encodeURIComponent(clientId)}:${encodeURIComponent(clientSecret)}`;
      headers.authorization = `Basic ${Buffer.from(basic).toString('base64')}`;
    } else {
      form.set('client_id', clientId);
      form.set('client_secret', clientSecret);
    }
    let body: Record<string, unknown>;
    try {
      const endpoint = this.config.introspectionEndpoint ?? (await this.discovery!.endpoint('introspection_endpoint'));
      body = await fetchJson(endpoint, { method: 'POST', headers, body: form.toString() }, timeoutMs);
    } catch (err) {
      authIntrospectionsTotal.inc({ result: 'error' });
      log.warn('introspection', { err: (err as Error).message }, 'token introspection failed');
      return { expiresAt: 0, failure: authUnavailable('introspection_unavailable') };
    }
    log.reset('introspection');
    return this.judge(body);
  }

  private judge(body: Record<string, unknown>): CacheEntry {
    const now = Date.now();
    const negative = (reason: string): CacheEntry => {
      authIntrospectionsTotal.inc({ result: 'inactive' });
      return { expiresAt: now + this.config.negativeCacheTtlSeconds * 1000, failure: invalidToken(reason) };
    };
    if (body.active !== true) return negative('inactive');
    const exp = typeof body.exp === 'number' ? body.exp * 1000 : undefined;
    if (exp !== undefined && exp <= now) return negative('expired');
    if (this.config.audiences.length > 0) {
      const aud = Array.isArray(body.aud) ? body.aud : [body.aud];
      if (!aud.some((a) => typeof a === 'string' && this.config.audiences.includes(a))) return negative('bad_audience');
    }
    if (this.config.requiredScopes.length > 0) {
      const scopes = new Set(typeof body.scope === 'string' ? body.scope.split(' ') : []);
      if (!this.config.requiredScopes.every((s) => scopes.has(s))) return negative('missing_scope');
    }
    let principal: Principal;
    try {
      principal = principalFromClaims(body, this.config.claims, 'oauth2');
    } catch (err) {
      authIntrospectionsTotal.inc({ result: 'inactive' });
      return { expiresAt: now + this.config.negativeCacheTtlSeconds * 1000, failure: err as AuthError };
    }
    authIntrospectionsTotal.inc({ result: 'active' });
    const ttl = Math.min(this.config.cacheTtlSeconds * 1000, (exp ?? Infinity) - now);
    return { expiresAt: now + ttl, principal };
  }
}
