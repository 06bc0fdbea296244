import { createSecretKey, type KeyObject } from 'node:crypto';
import {
  errors,
  importJWK,
  importSPKI,
  importX509,
  jwtVerify,
  type FlattenedJWSInput,
  type JWSHeaderParameters,
  type JWTVerifyGetKey,
} from 'jose';
import { principalFromClaims } from './claims.js';
import type { JwtConfig, StaticKeyConfig } from './config.js';
import { OidcDiscovery } from './discovery.js';
import { AuthError, invalidToken } from './errors.js';
import { RemoteKeySet } from './jwks.js';
import { credentialKey, TtlCache } from './ttl-cache.js';
import type { Principal } from './types.js';

// JWT bearer tokens: signature against static keys and/or a remote JWKS, then issuer, audience, exp/nbf (with clock
// skew) and the algorithm allow-list. `exp` is required. Keys are matched to the token's `alg` by type, so an HS256
// token can never be checked against an RSA public key (the classic key-confusion attack); `alg: none` is never in
// the allow-list. Verified tokens are remembered (by SHA-256) for up to `cacheTtlSeconds` and never past their `exp`,
// since clients send the same token with every request and an RSA verification costs far more than a hash.

type Key = CryptoKey | KeyObject | Uint8Array;

interface StaticKey {
  kid?: string;
  alg: string;
  key: Key;
}

export class JwtVerifier {
  private readonly staticKeys: Promise<StaticKey[]>;
  private readonly remote: RemoteKeySet | undefined;
  private readonly getKey: JWTVerifyGetKey;
  private readonly verified: TtlCache<Principal>;

  constructor(private readonly config: JwtConfig) {
    this.verified = new TtlCache(config.cacheMaxEntries);
    this.staticKeys = Promise.all(config.keys.map(importStaticKey));
    // Surface a bad static key once at startup; verification reports it per request as well.
    this.staticKeys.catch(() => undefined);
    if (config.jwksUri || config.discovery) {
      const discovery = config.discovery ? new OidcDiscovery(config.issuer!, config.fetchTimeoutMs) : undefined;
      const uri = config.jwksUri;
      this.remote = new RemoteKeySet(async () => uri ?? (await discovery!.endpoint('jwks_uri')), {
        timeoutMs: config.fetchTimeoutMs,
        refreshSeconds: config.jwksRefreshSeconds,
        cooldownSeconds: config.unknownKidCooldownSeconds,
      });
    }
    this.getKey = (header, token) => this.resolveKey(header, token);
  }

  /** Fetches the remote key set now (startup), so the first request does not wait for it. */
  async warmUp(): Promise<boolean> {
    return this.remote ? this.remote.refresh() : true;
  }

  async verify(token: string): Promise<Principal> {
    const cacheKey = this.config.cacheTtlSeconds > 0 ? credentialKey(token) : undefined;
    const hit = cacheKey && this.verified.get(cacheKey);
    if (hit) return hit;
    try {
      const { payload } = await jwtVerify(token, this.getKey, {
        issuer: this.config.issuer,
        audience: this.config.audiences.length > 0 ? this.config.audiences : undefined,
        algorithms: this.config.algorithms,
        clockTolerance: this.config.clockSkewSeconds,
        requiredClaims: ['exp'],
      });
      const principal = principalFromClaims(payload, this.config.claims, 'jwt');
      if (cacheKey) this.verified.set(cacheKey, principal, Math.min(Date.now() + this.config.cacheTtlSeconds * 1000, payload.exp! * 1000));
      return principal;
    } catch (err) {
      throw toAuthError(err);
    }
  }

  close(): void {
    this.verified.clear();
  }

  private async resolveKey(header: JWSHeaderParameters, token: FlattenedJWSInput): Promise<Key> {
    const candidates = (await this.staticKeys).filter(
      (k) => k.alg === header.alg && (header.kid === undefined || k.kid === undefined || k.kid === header.kid),
    );
    if (candidates.length > 0) return candidates[0]!.key;
    if (this.remote) return this.remote.getKey(header, token);
    throw invalidToken('unknown_kid');
  }
}

async function importStaticKey(k: StaticKeyConfig): Promise<StaticKey> {
  let key: Key;
  if (k.secret !== undefined) key = createSecretKey(Buffer.from(k.secret, 'utf8'));
  else if (k.jwk !== undefined) key = await importJWK(k.jwk, k.alg);
  else if (k.pem!.includes('BEGIN CERTIFICATE')) key = await importX509(k.pem!, k.alg);
  else key = await importSPKI(k.pem!, k.alg);
  return { kid: k.kid ?? (typeof k.jwk?.kid === 'string' ? k.jwk.kid : undefined), alg: k.alg, key };
}

function toAuthError(err: unknown): AuthError {
  if (err instanceof AuthError) return err;
  if (err instanceof errors.JWTExpired) return new AuthError(401, 'token_expired', 'expired', 'The access token has expired.');
  if (err instanceof errors.JWTClaimValidationFailed) {
    const reason =
      { nbf: 'not_yet_valid', iss: 'bad_issuer', aud: 'bad_audience', exp: 'missing_exp' }[err.claim] ?? 'invalid_claims';
    return invalidToken(reason);
  }
  if (err instanceof errors.JOSEAlgNotAllowed) return invalidToken('alg_not_allowed');
  if (err instanceof errors.JWKSNoMatchingKey) return invalidToken('unknown_kid');
  if (err instanceof errors.JWSSignatureVerificationFailed) return invalidToken('bad_signature');
  if (err instanceof errors.JOSEError) return invalidToken('malformed');
  // jose raises TypeError when a key cannot serve the token's algorithm.
  return invalidToken('bad_key');
}
