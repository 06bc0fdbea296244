import { createLocalJWKSet, errors, type JSONWebKeySet, type JWSHeaderParameters, type FlattenedJWSInput } from 'jose';
import { logger } from '../../observability/logger.js';
import { authUnavailable, invalidToken } from './errors.js';
import { authKeySetFetchesTotal } from './metrics.js';
import { fetchJson } from './http.js';
import { ThrottledLog } from './throttled-log.js';

// A remote JSON Web Key Set that never fails verification because its endpoint is down.
//  - The last good key set is kept and used until a fetch succeeds again (jose's remote set would instead refetch
//    inline when its cache expires and fail the verification if that fetch fails).
//  - After `refreshSeconds` a refresh starts in the background; requests keep using the current keys meanwhile.
//  - A token whose `kid` is unknown triggers one refetch (key rotation), at most once per cool-down, so a flood of
//    forged kids cannot turn into a flood of requests to the identity provider.
//  - Concurrent fetches are collapsed into one.

export interface KeySetOptions {
  timeoutMs: number;
  refreshSeconds: number;
  cooldownSeconds: number;
}

type KeyResolver = ReturnType<typeof createLocalJWKSet>;
type Key = Awaited<ReturnType<KeyResolver>>;

const log = new ThrottledLog(logger);

export class RemoteKeySet {
  private resolver: KeyResolver | undefined;
  private fetchedAt = 0;
  private lastAttempt = -Infinity;
  private inflight: Promise<boolean> | undefined;

  constructor(
    /** Resolves the JWKS URL (configured, or found through discovery). */
    private readonly uri: () => Promise<string>,
    private readonly opts: KeySetOptions,
  ) {}

  async getKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> {
    if (!this.resolver && !(await this.refresh())) throw authUnavailable('jwks_unavailable');
    const now = Date.now();
    const stale = now - this.fetchedAt > this.opts.refreshSeconds * 1000;
    if (stale && now - this.lastAttempt >= this.opts.cooldownSeconds * 1000) void this.refresh();
    try {
      return await this.resolver!(header, token);
    } catch (err) {
      if (!(err instanceof errors.JWKSNoMatchingKey)) throw err;
      const cooledDown = Date.now() - this.lastAttempt >= this.opts.cooldownSeconds * 1000;
      if (cooledDown && (await this.refresh())) return this.resolver!(header, token);
      throw invalidToken('unknown_kid');
    }
  }

  /** Fetches the key set; true when a fresh set is installed. Failures keep the previous set. */
  refresh(): Promise<boolean> {
    this.inflight ??= this.fetch().finally(() => (this.inflight = undefined));
    return this.inflight;
  }

  private async fetch(): Promise<boolean> {
    this.lastAttempt = Date.now();
    let url = '(discovery)';
    try {
      url = await this.uri();
      const jwks = await fetchJson(url, { headers: { accept: 'application/json' } }, this.opts.timeoutMs);
      if (!Array.isArray(jwks.keys)) throw new Error('no "keys" array in JWKS');
      this.resolver = createLocalJWKSet(jwks as unknown as JSONWebKeySet);
      this.fetchedAt = Date.now();
      authKeySetFetchesTotal.inc({ result: 'ok' });
      log.reset(url);
      return true;
    } catch (err) {
      authKeySetFetchesTotal.inc({ result: 'error' });
      log.warn(
        url,
        { url, err: (err as Error).message, keepingLastGood: this.resolver !== undefined },
        'JWKS fetch failed',
      );
      return false;
    }
  }
}
