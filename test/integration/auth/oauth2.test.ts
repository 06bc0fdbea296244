import { expect } from 'chai';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Authenticator, parseAuthConfig, type AuthResult } from '../../../src/filters/auth/index.js';
import { registry } from '../../../src/observability/metrics.js';
import { startOidcServer, type OidcTestServer } from '../../support/oidc.js';

// Opaque tokens from a real authorization server (oidc-provider) checked by RFC 7662 introspection.

const bearer = (token: string) => new Map([['authorization', `Bearer ${token}`]]);

async function introspections(result: string): Promise<number> {
  const m = await registry.getSingleMetric('kthena_router_auth_introspection_requests_total')!.get();
  return m.values.filter((v) => v.labels.result === result).reduce((a, v) => a + v.value, 0);
}

function expectFailure(r: AuthResult, status: number, reason: string): void {
  expect(r.ok, JSON.stringify(r)).to.equal(false);
  if (!r.ok) {
    expect(r.status).to.equal(status);
    expect(r.reason).to.equal(reason);
  }
}

describe('auth: OAuth 2.0 introspection against oidc-provider', function () {
  this.timeout(20_000);
  let idp: OidcTestServer;
  const authenticators: Authenticator[] = [];

  const make = (oauth2: Record<string, unknown>) => {
    const a = new Authenticator(
      parseAuthConfig({
        oauth2: { issuer: idp.issuer, clientId: idp.router.clientId, clientSecret: idp.router.clientSecret, ...oauth2 },
      }),
    );
    authenticators.push(a);
    return a;
  };

  before(async () => {
    idp = await startOidcServer();
  });
  afterEach(() => authenticators.splice(0).forEach((a) => a.close()));
  after(() => idp.close());

  it('accepts a client-credentials token found via OIDC discovery, and caches the result', async () => {
    const auth = make({ requiredScopes: ['models:use'] });
    const token = await idp.token();
    const before = await introspections('active');
    const results = await Promise.all(Array.from({ length: 10 }, () => auth.authenticate(bearer(token), 'llama')));
    for (const r of results) {
      expect(r).to.deep.equal({
        ok: true,
        principal: { user: idp.caller.clientId, tenant: idp.caller.clientId, tier: undefined, groups: [], method: 'oauth2', consumedHeaders: ['authorization', 'cookie'] },
      });
    }
    await auth.authenticate(bearer(token), 'llama');
    // Eleven requests, one call to the server: single-flight plus cache.
    expect((await introspections('active')) - before).to.equal(1);
  });

  it('rejects a revoked token once the cache entry expires (immediately with cacheTtlSeconds: 0)', async () => {
    const auth = make({ cacheTtlSeconds: 0 });
    const token = await idp.token();
    expect((await auth.authenticate(bearer(token), 'm')).ok).to.equal(true);
    await idp.revoke(token);
    expectFailure(await auth.authenticate(bearer(token), 'm'), 401, 'inactive');

    const cached = make({ cacheTtlSeconds: 60 });
    const t2 = await idp.token();
    expect((await cached.authenticate(bearer(t2), 'm')).ok).to.equal(true);
    await idp.revoke(t2);
    // Within the TTL the cached answer stands: this is the documented revocation delay.
    expect((await cached.authenticate(bearer(t2), 'm')).ok).to.equal(true);
  });

  it('rejects unknown tokens and a missing scope', async () => {
    expectFailure(await make({}).authenticate(bearer('not-a-real-token-value'), 'm'), 401, 'inactive');
    expectFailure(await make({ requiredScopes: ['admin'] }).authenticate(bearer(await idp.token()), 'm'), 401, 'missing_scope');
  });

  it('answers 503 (not cached) when the authorization server hangs, within the strict timeout', async () => {
    // Accepts connections and never answers.
    const sockets: Socket[] = [];
    const hang = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    try {
      const port = (hang.address() as AddressInfo).port;
      const auth = make({ issuer: undefined, introspectionEndpoint: `http://127.0.0.1:${port}/introspect`, timeoutMs: 300 });
      const errorsBefore = await introspections('error');
      for (let i = 0; i < 2; i++) {
        const t0 = Date.now();
        expectFailure(await auth.authenticate(bearer('whatever'), 'm'), 503, 'introspection_unavailable');
        expect(Date.now() - t0).to.be.within(250, 1500);
      }
      expect((await introspections('error')) - errorsBefore).to.equal(2);
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => hang.close(r));
    }
  });

  it('uses a configured introspection endpoint with client_secret_post', async () => {
    const auth = make({
      issuer: undefined,
      introspectionEndpoint: `${idp.issuer}/token/introspection`,
      clientAuthMethod: 'client_secret_post',
    });
    expect((await auth.authenticate(bearer(await idp.token()), 'm')).ok).to.equal(true);
  });

  it('rejects the router when its own client secret is wrong (503, server refused)', async () => {
    const auth = make({ clientSecret: 'wrong-secret' });
    expectFailure(await auth.authenticate(bearer(await idp.token()), 'm'), 503, 'introspection_unavailable');
  });
});
