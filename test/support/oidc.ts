import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';

// A real OAuth 2.0 / OpenID Connect authorization server (oidc-provider v9) on loopback for tests: client-credentials
// grant, token introspection (RFC 7662), revocation (RFC 7009) and discovery. Tokens are opaque.

export interface OidcTestServer {
  issuer: string;
  /** Client the router uses to call introspection. */
  router: { clientId: string; clientSecret: string };
  /** Gets an opaque access token for a caller client via client_credentials. */
  token(client?: { clientId: string; clientSecret: string }, scope?: string): Promise<string>;
  revoke(token: string): Promise<void>;
  caller: { clientId: string; clientSecret: string };
  close(): Promise<void>;
}

interface ProviderLike {
  callback(): (req: unknown, res: unknown) => void;
}

export async function startOidcServer(host = '127.0.0.1'): Promise<OidcTestServer> {
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const issuer = `http://${host}:${(server.address() as AddressInfo).port}`;

  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), alg: 'RS256', use: 'sig', kid: 'test-signing' };
  const router = { clientId: 'kthena-router', clientSecret: 'router-secret-router-secret-0001' };
  const caller = { clientId: 'tenant-app', clientSecret: 'caller-secret-caller-secret-0001' };
  const client = (c: { clientId: string; clientSecret: string }) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    token_endpoint_auth_method: 'client_secret_basic',
    scope: 'models:use',
  });

  // oidc-provider ships no type declarations; a computed specifier keeps tsc from looking for them.
  const specifier = 'oidc-provider';
  const { default: Provider } = (await import(specifier)) as {
    default: new (issuer: string, config: Record<string, unknown>) => ProviderLike;
  };
  const provider = new Provider(issuer, {
    clients: [client(router), client(caller)],
    jwks: { keys: [signingKey] },
    cookies: { keys: ['cookie-signing-key-for-tests-only'] },
    scopes: ['openid', 'models:use'],
    ttl: { ClientCredentials: 600 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      // Any authenticated client may introspect or revoke in this test server.
      introspection: { enabled: true, allowedPolicy: async () => true },
      revocation: { enabled: true, allowedPolicy: async () => true },
    },
  });
  server.on('request', provider.callback());

  const basic = (c: { clientId: string; clientSecret: string }) =>
    `Basic ${Buffer.from(`${encodeURIComponent(c.clientId)}:${encodeURIComponent(c.clientSecret)}`).toString('base64')}`;
  const post = async (path: string, c: { clientId: string; clientSecret: string }, form: Record<string, string>) => {
    const res = await fetch(`${issuer}${path}`, {
      method: 'POST',
      headers: { authorization: basic(c), 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(form).toString(),
    });
    const body = await res.text();
    if (!res.ok) throw new Error(`${path}: HTTP ${res.status} ${body}`);
    return body ? (JSON.parse(body) as Record<string, unknown>) : {};
  };

  return {
    issuer,
    router,
    caller,
    async token(c = caller, scope = 'models:use') {
      const body = await post('/token', c, { grant_type: 'client_credentials', scope });
      return String(body.access_token);
    },
    async revoke(token) {
      await post('/token/revocation', router, { token, token_type_hint: 'access_token' });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
