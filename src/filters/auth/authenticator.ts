import { globToRegExp } from './config-reader.js';
import type { ApiKeyEntry, AuthConfig, AuthorizationConfig } from './config.js';
import { ApiKeyStore } from './api-keys.js';
import { authorize } from './authorize.js';
import { AuthError } from './errors.js';
import { Introspector } from './introspection.js';
import { JwtVerifier } from './jwt.js';
import { authFailuresTotal } from './metrics.js';
import type { AuthFailure, AuthResult, GetSecret, Principal } from './types.js';

// The Auth filter: credentials from `x-api-key` or `Authorization: Bearer`, then authorization for the model.
// A bearer value is tried as an API key first (cheap hash lookup), then as a JWT when it has the JWT shape and JWT
// is configured, otherwise by introspection. Invalid credentials are rejected even when anonymous access is
// allowed: a caller who sent a key expects it to be used.

const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

type Method = Principal['method'];

export class Authenticator {
  private readonly apiKeys: ApiKeyStore | undefined;
  private readonly jwt: JwtVerifier | undefined;
  private readonly oauth2: Introspector | undefined;

  constructor(
    private readonly config: AuthConfig,
    deps: { getSecret?: GetSecret } = {},
  ) {
    this.apiKeys = config.apiKeys ? new ApiKeyStore(config.apiKeys, deps.getSecret) : undefined;
    this.jwt = config.jwt ? new JwtVerifier(config.jwt) : undefined;
    this.oauth2 = config.oauth2 ? new Introspector(config.oauth2) : undefined;
  }

  /** Optional warm-up at startup: fetches the JWKS so the first JWT request does not wait for it. */
  async start(): Promise<void> {
    await this.jwt?.warmUp();
  }

  async authenticate(headers: Map<string, string>, model: string): Promise<AuthResult> {
    if (this.config.mode === 'disabled') return { ok: true, principal: this.anonymous() };
    const credential = extractCredential(headers);
    if (credential.kind === 'bad-scheme') {
      return fail('none', new AuthError(401, 'invalid_request', 'unsupported_scheme', 'Use Authorization: Bearer <key or token>.'));
    }
    if (credential.kind === 'none') {
      if (this.config.mode === 'optional') {
        const principal = this.anonymous();
        if (authorize(principal, model, this.config.authorization)) return { ok: true, principal };
      }
      return fail('none', new AuthError(401, 'missing_credentials', 'missing', MISSING_MESSAGE));
    }

    let method: Method = 'api-key';
    try {
      const key = this.apiKeys?.lookup(credential.value);
      let principal: Principal;
      if (key) {
        if (!modelAllowedForKey(key, model)) return fail(method, forbidden(model));
        principal = { user: key.user, tenant: key.tenant ?? key.user, tier: key.tier, groups: key.groups, method };
      } else if (credential.kind === 'bearer' && this.jwt && JWT_SHAPE.test(credential.value)) {
        method = 'jwt';
        principal = await this.jwt.verify(credential.value);
      } else if (credential.kind === 'bearer' && this.oauth2) {
        method = 'oauth2';
        principal = await this.oauth2.introspect(credential.value);
      } else if (credential.kind === 'api-key' || this.apiKeys) {
        return fail(method, new AuthError(401, 'invalid_api_key', 'invalid_api_key', 'Incorrect API key provided.'));
      } else {
        return fail('jwt', new AuthError(401, 'invalid_token', 'malformed', 'The access token is invalid.'));
      }
      if (!this.authorize(principal, model)) return fail(method, forbidden(model));
      const consumed = this.consumedHeaders(method, credential.kind);
      return { ok: true, principal: consumed.length > 0 ? { ...principal, consumedHeaders: consumed } : principal };
    } catch (err) {
      if (err instanceof AuthError) return fail(method, err);
      throw err;
    }
  }

  /** Route-level check: `rules` (e.g. from a ModelRoute) replace the configured rules when given. */
  authorize(principal: Principal, model: string, rules?: AuthorizationConfig): boolean {
    return authorize(principal, model, rules ?? this.config.authorization);
  }

  close(): void {
    this.apiKeys?.close();
    this.jwt?.close();
    this.oauth2?.close();
  }

  /**
   * What the router used up authenticating the request and keeps from self-hosted pods, as Envoy's jwt_authn does
   * unless `forward` is set: the credential's header, per method, and the cookies.
   */
  private consumedHeaders(method: Method, kind: 'api-key' | 'bearer'): string[] {
    const forward = method === 'jwt' ? this.config.jwt?.forward : method === 'oauth2' ? this.config.oauth2?.forward : this.config.apiKeys?.forward;
    const out = forward === true ? [] : [kind === 'api-key' ? 'x-api-key' : 'authorization'];
    if (!this.config.forwardCookies) out.push('cookie');
    return out;
  }

  private anonymous(): Principal {
    const { user, tier } = this.config.anonymous;
    return { user, tenant: user, tier, groups: [], method: 'anonymous' };
  }
}

const MISSING_MESSAGE =
  'You didn\'t provide an API key. Provide it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY) or in an x-api-key header.';

type Credential = { kind: 'api-key' | 'bearer'; value: string } | { kind: 'none' } | { kind: 'bad-scheme' };

function extractCredential(headers: Map<string, string>): Credential {
  const apiKey = headers.get('x-api-key')?.trim();
  if (apiKey) return { kind: 'api-key', value: apiKey };
  const authz = headers.get('authorization')?.trim();
  if (!authz) return { kind: 'none' };
  const m = /^Bearer\s+(\S+)$/i.exec(authz);
  return m ? { kind: 'bearer', value: m[1]! } : { kind: 'bad-scheme' };
}

const keyModelMatchers = new WeakMap<ApiKeyEntry, RegExp[]>();

function modelAllowedForKey(key: ApiKeyEntry, model: string): boolean {
  if (key.models.length === 0) return true;
  let matchers = keyModelMatchers.get(key);
  if (!matchers) {
    matchers = key.models.map(globToRegExp);
    keyModelMatchers.set(key, matchers);
  }
  return matchers.some((m) => m.test(model));
}

function forbidden(model: string): AuthError {
  return new AuthError(403, 'model_not_allowed', 'model_not_allowed', `You are not allowed to use the model '${model}'.`);
}

function fail(method: Method | 'none', err: AuthError): AuthFailure {
  authFailuresTotal.inc({ method, reason: err.reason });
  return err.toFailure();
}
