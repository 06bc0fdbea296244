import { expect } from 'chai';
import { ConfigError, parseAuthConfig, parseAuthorization } from '../../../src/filters/auth/index.js';
import { authorize } from '../../../src/filters/auth/authorize.js';
import type { Principal } from '../../../src/filters/auth/types.js';

describe('auth: configuration', () => {
  it("accepts Kthena's auth section unchanged", () => {
    const c = parseAuthConfig({ issuer: 'https://idp.test', audiences: ['router'], jwksUri: 'https://idp.test/keys' });
    expect(c.mode).to.equal('required');
    expect(c.jwt).to.deep.include({ issuer: 'https://idp.test', audiences: ['router'], jwksUri: 'https://idp.test/keys', discovery: false });
    expect(c.jwt!.algorithms).to.include('RS256').and.not.include('HS256');
    expect(c.jwt!.claims.user).to.deep.equal(['sub']);
  });

  it('uses OIDC discovery when only an issuer is given', () => {
    expect(parseAuthConfig({ jwt: { issuer: 'https://idp.test' } }).jwt!.discovery).to.equal(true);
  });

  const bad: Array<[string, unknown, RegExp]> = [
    ['unknown setting', { apiKeys: { keys: [] }, apikeys: {} }, /auth\.apikeys: unknown setting/],
    ['key and sha256', { apiKeys: { keys: [{ key: 'a', sha256: 'b', user: 'u' }] } }, /exactly one of key or sha256/],
    ['bad digest', { apiKeys: { keys: [{ sha256: 'xyz', user: 'u' }] } }, /64 hex digits/],
    ['missing user', { apiKeys: { keys: [{ key: 'k' }] } }, /keys\[0\]\.user/],
    ['nothing configured', { mode: 'required' }, /no method/],
    ['mixed shapes', { issuer: 'x', jwt: {} }, /either/],
    ['no key source', { jwt: { discovery: false } }, /OIDC discovery needs issuer|set jwksUri/],
    ['alg none', { jwt: { jwksUri: 'https://k.test/jwks', algorithms: ['none'] } }, /unsupported algorithm none/],
    ['HMAC with PEM', { jwt: { keys: [{ alg: 'HS256', pem: 'x' }] } }, /HS256 needs a secret/],
    ['RSA with secret', { jwt: { keys: [{ alg: 'RS256', secret: 'x'.repeat(40) }] } }, /cannot use a shared secret/],
    ['short secret', { jwt: { keys: [{ alg: 'HS256', secret: 'short' }] } }, /at least 32 bytes/],
    ['bad jwksUri', { jwt: { jwksUri: 'ftp://k' } }, /http\(s\) URL/],
    ['oauth2 without endpoint', { oauth2: { clientId: 'a', clientSecret: 'b' } }, /introspectionEndpoint or issuer/],
    ['bad mode', { mode: 'sometimes', apiKeys: {} }, /mode: must be one of/],
    ['rules not a list', { apiKeys: {}, authorization: { rules: {} } }, /rules: must be a list/],
  ];
  for (const [name, raw, msg] of bad) {
    it(`rejects ${name} with a clear message`, () => {
      expect(() => parseAuthConfig(raw)).to.throw(ConfigError, msg);
    });
  }
});

describe('auth: authorization rules', () => {
  const p = (over: Partial<Principal> = {}): Principal => ({ user: 'u', tenant: 't', groups: [], method: 'api-key', ...over });
  const rules = parseAuthorization({
    defaultPolicy: 'deny',
    rules: [
      { models: ['llama-*'], tiers: ['pro'] },
      { models: ['llama-*'], users: ['vip'] },
      { models: ['public'] },
      { models: ['team-*'], groups: ['ml'], tenants: ['acme'] },
    ],
  });

  it('allows when any applying rule matches every subject list it sets', () => {
    expect(authorize(p({ tier: 'pro' }), 'llama-8b', rules)).to.equal(true);
    expect(authorize(p({ user: 'vip' }), 'llama-8b', rules)).to.equal(true);
    expect(authorize(p({ tier: 'free' }), 'llama-8b', rules)).to.equal(false);
    expect(authorize(p(), 'public', rules)).to.equal(true);
    expect(authorize(p({ groups: ['ml'], tenant: 'acme' }), 'team-x', rules)).to.equal(true);
    expect(authorize(p({ groups: ['ml'], tenant: 'other' }), 'team-x', rules)).to.equal(false);
  });

  it('falls back to the default policy when no rule applies', () => {
    expect(authorize(p(), 'unlisted', rules)).to.equal(false);
    expect(authorize(p(), 'unlisted', parseAuthorization({ rules: [] }))).to.equal(true);
  });

  it('accepts a bare list (ModelRoute-level rules)', () => {
    const routeRules = parseAuthorization([{ users: ['alice'] }]);
    expect(authorize(p({ user: 'alice' }), 'any', routeRules)).to.equal(true);
    expect(authorize(p({ user: 'bob' }), 'any', routeRules)).to.equal(false);
  });
});
