import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import {
  bool,
  ConfigError,
  globToRegExp,
  httpUrl,
  list,
  object,
  oneOf,
  optNum,
  optObject,
  optStr,
  str,
  strList,
} from './config-reader.js';

// The router configuration's `auth` section. Kthena's own shape (`auth: { issuer, audiences, jwksUri }`) is accepted
// unchanged and means "verify JWTs from that issuer"; everything else is our extension.

export type AuthMode = 'required' | 'optional' | 'disabled';

export interface ClaimMapping {
  /** Dotted claim paths, e.g. `realm_access.roles`. */
  user: string[];
  tenant?: string;
  tier?: string;
  groups?: string;
}

export interface ApiKeyEntry {
  /** SHA-256 of the key, hex. Plain keys are hashed when the config is parsed and not kept. */
  sha256: string;
  user: string;
  tenant?: string;
  tier?: string;
  groups: string[];
  /** Globs of models this key may call; empty = any. */
  models: string[];
}

export interface ApiKeySecretRef {
  namespace: string;
  name: string;
  tenant?: string;
  tier?: string;
  groups: string[];
  models: string[];
}

export interface ApiKeysConfig {
  keys: ApiKeyEntry[];
  files: string[];
  secrets: ApiKeySecretRef[];
  fileRefreshSeconds: number;
  /** Pass the key on to self-hosted pods; default false: the router consumed it (as Envoy's jwt_authn `forward`). */
  forward: boolean;
}

export interface StaticKeyConfig {
  kid?: string;
  alg: string;
  /** Exactly one of these. */
  jwk?: Record<string, unknown>;
  pem?: string;
  secret?: string;
}

export interface JwtConfig {
  issuer?: string;
  audiences: string[];
  jwksUri?: string;
  /** Find `jwks_uri` through OIDC discovery on `issuer` (default when neither jwksUri nor keys are given). */
  discovery: boolean;
  algorithms: string[];
  keys: StaticKeyConfig[];
  clockSkewSeconds: number;
  claims: ClaimMapping;
  jwksRefreshSeconds: number;
  unknownKidCooldownSeconds: number;
  fetchTimeoutMs: number;
  /** How long a verified token's result is reused (never beyond its exp); 0 = verify every request. */
  cacheTtlSeconds: number;
  cacheMaxEntries: number;
  /** Pass the token on to self-hosted pods; default false. */
  forward: boolean;
}

export interface OAuth2Config {
  introspectionEndpoint?: string;
  /** Issuer for OIDC discovery of `introspection_endpoint`. */
  issuer?: string;
  clientId: string;
  clientSecret: string;
  clientAuthMethod: 'client_secret_basic' | 'client_secret_post';
  audiences: string[];
  requiredScopes: string[];
  cacheTtlSeconds: number;
  negativeCacheTtlSeconds: number;
  cacheMaxEntries: number;
  timeoutMs: number;
  claims: ClaimMapping;
  /** Pass the token on to self-hosted pods; default false. */
  forward: boolean;
}

export interface AuthorizationRule {
  models: string[];
  users: string[];
  groups: string[];
  tiers: string[];
  tenants: string[];
  /** Compiled `models` globs. */
  modelMatchers: RegExp[];
}

export interface AuthorizationConfig {
  defaultPolicy: 'allow' | 'deny';
  rules: AuthorizationRule[];
}

export interface AuthConfig {
  mode: AuthMode;
  anonymous: { user: string; tier?: string };
  apiKeys?: ApiKeysConfig;
  jwt?: JwtConfig;
  oauth2?: OAuth2Config;
  authorization: AuthorizationConfig;
  /** Pass the client's cookies on to self-hosted pods once the router authenticated it; default false. */
  forwardCookies: boolean;
}

const ASYMMETRIC_ALGS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const ALL_ALGS = [...ASYMMETRIC_ALGS, 'HS256', 'HS384', 'HS512'];

/** Validates the `auth` section (undefined/null = authentication disabled). Throws ConfigError on bad input. */
export function parseAuthConfig(raw: unknown): AuthConfig {
  if (raw === undefined || raw === null) return { mode: 'disabled', anonymous: { user: 'anonymous' }, authorization: allowAll(), forwardCookies: false };
  const p = 'auth';
  const o = object(raw, p, ['mode', 'anonymous', 'apiKeys', 'jwt', 'oauth2', 'authorization', 'issuer', 'audiences', 'jwksUri', 'forwardCookies']);
  const kthenaStyle = o.issuer !== undefined || o.audiences !== undefined || o.jwksUri !== undefined;
  if (kthenaStyle && o.jwt !== undefined) throw new ConfigError(`${p}: use either issuer/audiences/jwksUri or jwt, not both`);

  const apiKeys = o.apiKeys === undefined ? undefined : parseApiKeys(o.apiKeys, `${p}.apiKeys`);
  const jwt = kthenaStyle
    ? parseJwt({ issuer: o.issuer, audiences: o.audiences, jwksUri: o.jwksUri }, p)
    : o.jwt === undefined
      ? undefined
      : parseJwt(o.jwt, `${p}.jwt`);
  const oauth2 = o.oauth2 === undefined ? undefined : parseOAuth2(o.oauth2, `${p}.oauth2`);
  const anon = optObject(o.anonymous, `${p}.anonymous`, ['user', 'tier']);
  const config: AuthConfig = {
    mode: oneOf(o.mode, `${p}.mode`, ['required', 'optional', 'disabled'] as const, 'required'),
    anonymous: { user: optStr(anon?.user, `${p}.anonymous.user`) ?? 'anonymous', tier: optStr(anon?.tier, `${p}.anonymous.tier`) },
    apiKeys,
    jwt,
    oauth2,
    authorization: o.authorization === undefined ? allowAll() : parseAuthorization(o.authorization, `${p}.authorization`),
    forwardCookies: bool(o.forwardCookies, `${p}.forwardCookies`, false),
  };
  if (config.mode === 'required' && !apiKeys && !jwt && !oauth2) {
    throw new ConfigError(`${p}: mode is required but no method (apiKeys, jwt, oauth2, issuer/jwksUri) is configured`);
  }
  return config;
}

function allowAll(): AuthorizationConfig {
  return { defaultPolicy: 'allow', rules: [] };
}

function parseApiKeys(raw: unknown, p: string): ApiKeysConfig {
  const o = object(raw, p, ['keys', 'files', 'secrets', 'fileRefreshSeconds', 'forward']);
  return {
    keys: list(o.keys, `${p}.keys`).map((k, i) => parseApiKeyEntry(k, `${p}.keys[${i}]`)),
    files: strList(o.files, `${p}.files`),
    secrets: list(o.secrets, `${p}.secrets`).map((s, i) => {
      const sp = `${p}.secrets[${i}]`;
      const so = object(s, sp, ['namespace', 'name', 'tenant', 'tier', 'groups', 'models']);
      return {
        namespace: optStr(so.namespace, `${sp}.namespace`) ?? 'default',
        name: str(so.name, `${sp}.name`),
        tenant: optStr(so.tenant, `${sp}.tenant`),
        tier: optStr(so.tier, `${sp}.tier`),
        groups: strList(so.groups, `${sp}.groups`),
        models: strList(so.models, `${sp}.models`),
      };
    }),
    fileRefreshSeconds: optNum(o.fileRefreshSeconds, `${p}.fileRefreshSeconds`, 30, { min: 1 }),
    forward: bool(o.forward, `${p}.forward`, false),
  };
}

/** One API key entry, from the config or from a keys file. Exactly one of `key` (plain) or `sha256`. */
export function parseApiKeyEntry(raw: unknown, p: string): ApiKeyEntry {
  const o = object(raw, p, ['key', 'sha256', 'user', 'tenant', 'tier', 'groups', 'models']);
  if ((o.key === undefined) === (o.sha256 === undefined)) throw new ConfigError(`${p}: set exactly one of key or sha256`);
  let sha256: string;
  if (o.key !== undefined) {
    sha256 = sha256Hex(str(o.key, `${p}.key`));
  } else {
    sha256 = str(o.sha256, `${p}.sha256`).toLowerCase().replace(/^sha256:/, '');
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new ConfigError(`${p}.sha256: must be 64 hex digits`);
  }
  return {
    sha256,
    user: str(o.user, `${p}.user`),
    tenant: optStr(o.tenant, `${p}.tenant`),
    tier: optStr(o.tier, `${p}.tier`),
    groups: strList(o.groups, `${p}.groups`),
    models: strList(o.models, `${p}.models`),
  };
}

function parseJwt(raw: unknown, p: string): JwtConfig {
  const o = object(raw, p, [
    'issuer', 'audiences', 'jwksUri', 'discovery', 'algorithms', 'keys', 'clockSkewSeconds', 'claims',
    'jwksRefreshSeconds', 'unknownKidCooldownSeconds', 'fetchTimeoutMs', 'cacheTtlSeconds', 'cacheMaxEntries', 'forward',
  ]);
  const keys = list(o.keys, `${p}.keys`).map((k, i) => parseStaticKey(k, `${p}.keys[${i}]`));
  // Issuers are usually URLs, but `iss` is compared as a plain string.
  const issuer = optStr(o.issuer, `${p}.issuer`);
  const jwksUri = o.jwksUri === undefined ? undefined : httpUrl(o.jwksUri, `${p}.jwksUri`);
  const discovery = bool(o.discovery, `${p}.discovery`, !jwksUri && keys.length === 0);
  if (discovery && !issuer) throw new ConfigError(`${p}: OIDC discovery needs issuer`);
  if (!jwksUri && keys.length === 0 && !discovery) throw new ConfigError(`${p}: set jwksUri, keys or issuer (discovery)`);
  const algorithms =
    o.algorithms === undefined
      ? [...new Set([...ASYMMETRIC_ALGS, ...keys.map((k) => k.alg)])]
      : strList(o.algorithms, `${p}.algorithms`);
  algorithms.forEach((a, i) => {
    if (!ALL_ALGS.includes(a)) throw new ConfigError(`${p}.algorithms[${i}]: unsupported algorithm ${a} (use ${ALL_ALGS.join(', ')})`);
  });
  if (algorithms.length === 0) throw new ConfigError(`${p}.algorithms: must not be empty`);
  return {
    issuer,
    audiences: strList(o.audiences, `${p}.audiences`),
    jwksUri,
    discovery,
    algorithms,
    keys,
    clockSkewSeconds: optNum(o.clockSkewSeconds, `${p}.clockSkewSeconds`, 30, { min: 0 }),
    claims: parseClaims(o.claims, `${p}.claims`, ['sub']),
    jwksRefreshSeconds: optNum(o.jwksRefreshSeconds, `${p}.jwksRefreshSeconds`, 300, { min: 1 }),
    unknownKidCooldownSeconds: optNum(o.unknownKidCooldownSeconds, `${p}.unknownKidCooldownSeconds`, 30, { min: 0 }),
    fetchTimeoutMs: optNum(o.fetchTimeoutMs, `${p}.fetchTimeoutMs`, 2000, { min: 1 }),
    cacheTtlSeconds: optNum(o.cacheTtlSeconds, `${p}.cacheTtlSeconds`, 60, { min: 0 }),
    cacheMaxEntries: optNum(o.cacheMaxEntries, `${p}.cacheMaxEntries`, 10_000, { min: 1, integer: true }),
    forward: bool(o.forward, `${p}.forward`, false),
  };
}

function parseStaticKey(raw: unknown, p: string): StaticKeyConfig {
  const o = object(raw, p, ['kid', 'alg', 'jwk', 'pem', 'secret']);
  const sources = ['jwk', 'pem', 'secret'].filter((k) => o[k] !== undefined);
  if (sources.length !== 1) throw new ConfigError(`${p}: set exactly one of jwk, pem or secret`);
  const jwk = o.jwk === undefined ? undefined : object(o.jwk, `${p}.jwk`);
  const alg = optStr(o.alg, `${p}.alg`) ?? (typeof jwk?.alg === 'string' ? jwk.alg : undefined);
  if (!alg || !ALL_ALGS.includes(alg)) throw new ConfigError(`${p}.alg: required, one of ${ALL_ALGS.join(', ')}`);
  const isHmac = alg.startsWith('HS');
  if (isHmac !== (o.secret !== undefined || jwk?.kty === 'oct')) {
    throw new ConfigError(`${p}: ${alg} ${isHmac ? 'needs a secret' : 'cannot use a shared secret'}`);
  }
  const secret = optStr(o.secret, `${p}.secret`);
  if (secret !== undefined && Buffer.byteLength(secret) < 32) throw new ConfigError(`${p}.secret: must be at least 32 bytes`);
  return { kid: optStr(o.kid, `${p}.kid`), alg, jwk, pem: optStr(o.pem, `${p}.pem`), secret };
}

function parseClaims(raw: unknown, p: string, defaultUser: string[]): ClaimMapping {
  const o = optObject(raw, p, ['user', 'tenant', 'tier', 'groups']) ?? {};
  const user = strList(o.user, `${p}.user`);
  return {
    user: user.length > 0 ? user : defaultUser,
    tenant: optStr(o.tenant, `${p}.tenant`),
    tier: optStr(o.tier, `${p}.tier`),
    groups: optStr(o.groups, `${p}.groups`),
  };
}

function parseOAuth2(raw: unknown, p: string): OAuth2Config {
  const o = object(raw, p, [
    'introspectionEndpoint', 'issuer', 'clientId', 'clientSecret', 'clientSecretFile', 'clientAuthMethod', 'audiences',
    'requiredScopes', 'cacheTtlSeconds', 'negativeCacheTtlSeconds', 'cacheMaxEntries', 'timeoutMs', 'claims', 'forward',
  ]);
  const introspectionEndpoint =
    o.introspectionEndpoint === undefined ? undefined : httpUrl(o.introspectionEndpoint, `${p}.introspectionEndpoint`);
  const issuer = o.issuer === undefined ? undefined : httpUrl(o.issuer, `${p}.issuer`);
  if (!introspectionEndpoint && !issuer) throw new ConfigError(`${p}: set introspectionEndpoint or issuer (discovery)`);
  if ((o.clientSecret === undefined) === (o.clientSecretFile === undefined)) {
    throw new ConfigError(`${p}: set exactly one of clientSecret or clientSecretFile`);
  }
  return {
    introspectionEndpoint,
    issuer,
    clientId: str(o.clientId, `${p}.clientId`),
    clientSecret:
      o.clientSecret !== undefined ? str(o.clientSecret, `${p}.clientSecret`) : readSecretFile(str(o.clientSecretFile, `${p}.clientSecretFile`), p),
    clientAuthMethod: oneOf(o.clientAuthMethod, `${p}.clientAuthMethod`, ['client_secret_basic', 'client_secret_post'] as const, 'client_secret_basic'),
    audiences: strList(o.audiences, `${p}.audiences`),
    requiredScopes: strList(o.requiredScopes, `${p}.requiredScopes`),
    cacheTtlSeconds: optNum(o.cacheTtlSeconds, `${p}.cacheTtlSeconds`, 60, { min: 0 }),
    negativeCacheTtlSeconds: optNum(o.negativeCacheTtlSeconds, `${p}.negativeCacheTtlSeconds`, 5, { min: 0 }),
    cacheMaxEntries: optNum(o.cacheMaxEntries, `${p}.cacheMaxEntries`, 10_000, { min: 1, integer: true }),
    timeoutMs: optNum(o.timeoutMs, `${p}.timeoutMs`, 1000, { min: 1 }),
    claims: parseClaims(o.claims, `${p}.claims`, ['sub', 'client_id']),
    forward: bool(o.forward, `${p}.forward`, false),
  };
}

function readSecretFile(path: string, p: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`${p}.clientSecretFile: cannot read ${path}: ${(err as Error).message}`);
  }
}

/** Parses authorization rules: from the `auth.authorization` section, or a ModelRoute-level list. */
export function parseAuthorization(raw: unknown, p = 'authorization'): AuthorizationConfig {
  const o = Array.isArray(raw) ? { rules: raw } : object(raw, p, ['defaultPolicy', 'rules']);
  return {
    defaultPolicy: oneOf(o.defaultPolicy, `${p}.defaultPolicy`, ['allow', 'deny'] as const, 'allow'),
    rules: list(o.rules, `${p}.rules`).map((r, i) => {
      const rp = `${p}.rules[${i}]`;
      const ro = object(r, rp, ['models', 'users', 'groups', 'tiers', 'tenants']);
      const models = strList(ro.models, `${rp}.models`);
      return {
        models: models.length > 0 ? models : ['*'],
        users: strList(ro.users, `${rp}.users`),
        groups: strList(ro.groups, `${rp}.groups`),
        tiers: strList(ro.tiers, `${rp}.tiers`),
        tenants: strList(ro.tenants, `${rp}.tenants`),
        modelMatchers: (models.length > 0 ? models : ['*']).map(globToRegExp),
      };
    }),
  };
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s, 'utf8').digest('hex');
}
