import type { ResolvedProvider } from './resolve.js';

/** Envoy routes a provider request to that provider's cluster on this header (`<ns>/<name>`). */
export const PROVIDER_HEADER = 'x-kthena-provider';

/**
 * Client headers that never reach a provider: the client's own credentials (the router's API key or JWT, or a key
 * the client meant for someone else), cookies, account selectors, and where the request came from.
 */
const CLIENT_ONLY = [
  'authorization',
  'x-api-key',
  'api-key',
  'x-goog-api-key',
  'cookie',
  'openai-organization',
  'openai-project',
  'anthropic-version',
  'anthropic-beta',
  'x-forwarded-for',
  'x-forwarded-host',
  // Not x-forwarded-proto: it only says http or https, and Envoy matches no route without it (404 NR once the route
  // cache is cleared for the provider's cluster); Envoy sets it from the downstream connection in any case.
  'forwarded',
  'x-real-ip',
];

export interface ProviderHeaders {
  set: Record<string, string>;
  remove: string[];
}

/**
 * Upstream header changes for a provider request: the credential from the Secret (Bearer → `authorization`, APIKey →
 * `x-api-key`), the provider's own `headers`, the protocol's required headers, and the client's credentials removed.
 * Response compression is refused because the router reads (and may translate) the response body.
 */
export function providerHeaders(p: ResolvedProvider, required: Record<string, string>, path: string): ProviderHeaders {
  const set: Record<string, string> = {};
  for (const [name, value] of Object.entries(p.resource.spec.headers)) set[name.toLowerCase()] = value;
  for (const [name, value] of Object.entries(required)) if (!(name in set)) set[name] = value;
  const auth = p.resource.spec.auth;
  if (auth && p.credential !== undefined) {
    if (auth.scheme === 'APIKey') set['x-api-key'] = p.credential;
    else set.authorization = `Bearer ${p.credential}`;
  }
  set['content-type'] = 'application/json';
  set['accept-encoding'] = 'identity';
  set[PROVIDER_HEADER] = p.ref;
  set[':authority'] = p.authority;
  set[':path'] = path;
  return { set, remove: CLIENT_ONLY.filter((name) => !(name in set)) };
}
