import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { Authenticator, parseAuthConfig, type AuthResult } from '../../../src/filters/auth/index.js';
import { registry } from '../../../src/observability/metrics.js';

// JWT verification against a real JWKS endpoint served on loopback.

interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

async function newKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
  return { kid, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' } };
}

/** A JWKS server whose key list, availability and hit count the test controls. */
class JwksServer {
  keys: JWK[] = [];
  down = false;
  hits = 0;
  private server: Server = createServer((_req, res) => {
    this.hits++;
    if (this.down) {
      res.writeHead(503).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: this.keys }));
  });
  url = '';

  async start(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/jwks.json`;
  }
  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }
}

const ISSUER = 'https://idp.example.test';
const AUDIENCE = 'kthena-router';

function sign(key: SigningKey, claims: Record<string, unknown> = {}, opts: { exp?: string | number; nbf?: string | number } = {}) {
  const jwt = new SignJWT({ tier: 'gold', groups: ['ml', 'research'], ...claims })
    .setProtectedHeader({ alg: 'RS256', kid: key.kid })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject('alice')
    .setIssuedAt()
    .setExpirationTime(opts.exp ?? '5m');
  if (opts.nbf !== undefined) jwt.setNotBefore(opts.nbf);
  return jwt.sign(key.privateKey);
}

const bearer = (token: string) => new Map([['authorization', `Bearer ${token}`]]);
const b64url = (s: string | Buffer) => Buffer.from(s).toString('base64url');

function expectFailure(r: AuthResult, status: number, reason: string): void {
  expect(r.ok, JSON.stringify(r)).to.equal(false);
  if (r.ok) return;
  expect(r.status).to.equal(status);
  expect(r.reason).to.equal(reason);
}

async function failureCount(reason: string): Promise<number> {
  const metric = await registry.getSingleMetric('kthena_router_auth_failures_total')!.get();
  return metric.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

describe('auth: JWT with a JWKS endpoint', function () {
  this.timeout(20_000);
  let jwks: JwksServer;
  let key1: SigningKey;
  let key2: SigningKey;
  let auth: Authenticator;

  before(async () => {
    [key1, key2] = await Promise.all([newKey('k1'), newKey('k2')]);
  });
  beforeEach(async () => {
    jwks = new JwksServer();
    jwks.keys = [key1.publicJwk];
    await jwks.start();
    // Kthena's own `auth` shape, accepted unchanged, plus claim mapping and a short cool-down for the test.
    auth = new Authenticator(
      parseAuthConfig({
        issuer: ISSUER,
        audiences: [AUDIENCE],
        jwksUri: jwks.url,
      }),
    );
  });
  afterEach(async () => {
    auth.close();
    await jwks.close();
  });

  function withJwt(extra: Record<string, unknown>): Authenticator {
    auth.close();
    auth = new Authenticator(
      parseAuthConfig({ jwt: { issuer: ISSUER, audiences: [AUDIENCE], jwksUri: jwks.url, ...extra } }),
    );
    return auth;
  }

  it('accepts a valid token and maps claims', async () => {
    withJwt({ claims: { user: 'sub', tier: 'tier', groups: 'groups', tenant: 'org' } });
    const r = await auth.authenticate(bearer(await sign(key1, { org: 'acme' })), 'llama');
    expect(r).to.deep.equal({
      ok: true,
      principal: { user: 'alice', tenant: 'acme', tier: 'gold', groups: ['ml', 'research'], method: 'jwt', consumedHeaders: ['authorization', 'cookie'] },
    });
  });

  it('rejects expired tokens, and honours the clock skew', async () => {
    const now = Math.floor(Date.now() / 1000);
    const before = await failureCount('expired');
    expectFailure(await auth.authenticate(bearer(await sign(key1, {}, { exp: now - 120 })), 'm'), 401, 'expired');
    expect(await failureCount('expired')).to.equal(before + 1);
    // 10 s past expiry is inside the default 30 s skew.
    expect((await auth.authenticate(bearer(await sign(key1, {}, { exp: now - 10 })), 'm')).ok).to.equal(true);
  });

  it('rejects tokens that are not yet valid (nbf)', async () => {
    const now = Math.floor(Date.now() / 1000);
    expectFailure(await auth.authenticate(bearer(await sign(key1, {}, { nbf: now + 600 })), 'm'), 401, 'not_yet_valid');
  });

  it('rejects a wrong audience or issuer', async () => {
    const wrongAud = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER)
      .setAudience('someone-else').setSubject('alice').setExpirationTime('5m').sign(key1.privateKey);
    expectFailure(await auth.authenticate(bearer(wrongAud), 'm'), 401, 'bad_audience');
    const wrongIss = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer('https://evil.test')
      .setAudience(AUDIENCE).setSubject('alice').setExpirationTime('5m').sign(key1.privateKey);
    expectFailure(await auth.authenticate(bearer(wrongIss), 'm'), 401, 'bad_issuer');
  });

  it('rejects a token without exp', async () => {
    const noExp = await new SignJWT({}).setProtectedHeader({ alg: 'RS256', kid: 'k1' }).setIssuer(ISSUER)
      .setAudience(AUDIENCE).setSubject('alice').sign(key1.privateKey);
    expectFailure(await auth.authenticate(bearer(noExp), 'm'), 401, 'missing_exp');
  });

  it('rejects alg none', async () => {
    const payload = { iss: ISSUER, aud: AUDIENCE, sub: 'alice', exp: Math.floor(Date.now() / 1000) + 300 };
    const unsigned = `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify(payload))}.`;
    const r = await auth.authenticate(bearer(unsigned), 'm');
    expectFailure(r, 401, 'alg_not_allowed');
  });

  it('rejects HS256 tokens signed with the RSA public key (key confusion), even with HS256 allowed', async () => {
    const payload = { iss: ISSUER, aud: AUDIENCE, sub: 'mallory', exp: Math.floor(Date.now() / 1000) + 300 };
    const pem = await exportSPKI(key1.publicKey);
    for (const secret of [Buffer.from(pem), Buffer.from(JSON.stringify(key1.publicJwk))]) {
      const forged = await new SignJWT(payload).setProtectedHeader({ alg: 'HS256', kid: 'k1' }).sign(secret);
      expectFailure(await auth.authenticate(bearer(forged), 'm'), 401, 'alg_not_allowed');
      withJwt({ algorithms: ['RS256', 'HS256'] });
      const r = await auth.authenticate(bearer(forged), 'm');
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.status).to.equal(401);
      withJwt({});
    }
  });

  it('rejects a bad signature', async () => {
    const token = await sign(key1);
    const [h, p, s] = token.split('.');
    const tampered = `${h}.${b64url(JSON.stringify({ ...JSON.parse(Buffer.from(p!, 'base64url').toString()), sub: 'root' }))}.${s}`;
    expectFailure(await auth.authenticate(bearer(tampered), 'm'), 401, 'bad_signature');
  });

  it('refetches the JWKS on an unknown kid (key rotation), with a cool-down against floods', async () => {
    withJwt({ unknownKidCooldownSeconds: 1 });
    expect((await auth.authenticate(bearer(await sign(key1)), 'm')).ok).to.equal(true);
    const hitsAfterFirst = jwks.hits;

    // Rotation: the IdP publishes k2 and starts signing with it.
    jwks.keys = [key1.publicJwk, key2.publicJwk];
    await new Promise((r) => setTimeout(r, 1100));
    expect((await auth.authenticate(bearer(await sign(key2)), 'm')).ok).to.equal(true);
    expect(jwks.hits).to.equal(hitsAfterFirst + 1);

    // Forged kids: only one refetch per cool-down, however many arrive.
    const forger = await newKey('forged');
    await new Promise((r) => setTimeout(r, 1100));
    const hitsBefore = jwks.hits;
    const results = await Promise.all(
      Array.from({ length: 20 }, async () => auth.authenticate(bearer(await sign(forger)), 'm')),
    );
    results.forEach((r) => expectFailure(r, 401, 'unknown_kid'));
    expect(jwks.hits - hitsBefore).to.equal(1);
  });

  it('keeps verifying with the last good key set while the JWKS endpoint is down', async () => {
    withJwt({ jwksRefreshSeconds: 1, unknownKidCooldownSeconds: 0 });
    expect((await auth.authenticate(bearer(await sign(key1)), 'm')).ok).to.equal(true);
    jwks.down = true;
    await new Promise((r) => setTimeout(r, 1100)); // the cached set is now stale: refreshes will fail
    for (let i = 0; i < 3; i++) {
      expect((await auth.authenticate(bearer(await sign(key1)), 'm')).ok).to.equal(true);
    }
    expect(jwks.hits).to.be.greaterThan(1); // it did try to refresh
    // A kid it never saw still fails cleanly (401, not 503) while the endpoint is down.
    expectFailure(await auth.authenticate(bearer(await sign(key2)), 'm'), 401, 'unknown_kid');
  });

  it('reuses a verified token until cacheTtlSeconds; 0 re-verifies every request', async () => {
    for (const cacheTtlSeconds of [60, 0]) {
      withJwt({ cacheTtlSeconds, unknownKidCooldownSeconds: 0 });
      jwks.keys = [key1.publicJwk];
      const token = await sign(key1);
      expect((await auth.authenticate(bearer(token), 'm')).ok).to.equal(true);
      // The IdP replaces k1 by k2; the first k2 token makes the router fetch the new set.
      jwks.keys = [key2.publicJwk];
      expect((await auth.authenticate(bearer(await sign(key2)), 'm')).ok).to.equal(true);
      const r = await auth.authenticate(bearer(token), 'm');
      if (cacheTtlSeconds > 0) expect(r.ok).to.equal(true);
      else expectFailure(r, 401, 'unknown_kid');
    }
  });

  it('answers 503 when no key set was ever fetched', async () => {
    jwks.down = true;
    expectFailure(await auth.authenticate(bearer(await sign(key1)), 'm'), 503, 'jwks_unavailable');
  });

  it('verifies with static keys (PEM and HMAC secret) without any JWKS', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const secret = 'a-shared-secret-of-at-least-32-bytes!!';
    const a = new Authenticator(
      parseAuthConfig({
        jwt: {
          issuer: ISSUER,
          audiences: [AUDIENCE],
          keys: [
            { kid: 'ec', alg: 'ES256', pem: await exportSPKI(publicKey) },
            { kid: 'hs', alg: 'HS256', secret },
          ],
        },
      }),
    );
    try {
      const ec = await new SignJWT({}).setProtectedHeader({ alg: 'ES256', kid: 'ec' }).setIssuer(ISSUER)
        .setAudience(AUDIENCE).setSubject('bob').setExpirationTime('5m').sign(privateKey);
      expect((await a.authenticate(bearer(ec), 'm')).ok).to.equal(true);
      const hs = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).setIssuer(ISSUER)
        .setAudience(AUDIENCE).setSubject('carol').setExpirationTime('5m').sign(Buffer.from(secret));
      const r = await a.authenticate(bearer(hs), 'm');
      expect(r.ok && r.principal.user).to.equal('carol');
      const wrongSecret = await new SignJWT({}).setProtectedHeader({ alg: 'HS256', kid: 'hs' }).setIssuer(ISSUER)
        .setAudience(AUDIENCE).setSubject('carol').setExpirationTime('5m').sign(Buffer.from('x'.repeat(40)));
      expectFailure(await a.authenticate(bearer(wrongSecret), 'm'), 401, 'bad_signature');
    } finally {
      a.close();
    }
  });
});
