import { Counter } from 'prom-client';
import { registry } from '../../observability/metrics.js';

export const authFailuresTotal = new Counter({
  name: 'kthena_router_auth_failures_total',
  help: 'Rejected authentication or authorization, by method and reason.',
  labelNames: ['method', 'reason'] as const,
  registers: [registry],
});

export const authIntrospectionsTotal = new Counter({
  name: 'kthena_router_auth_introspection_requests_total',
  help: 'Token introspection calls sent to the authorization server (cache misses), by result.',
  labelNames: ['result'] as const,
  registers: [registry],
});

export const authKeySetFetchesTotal = new Counter({
  name: 'kthena_router_auth_jwks_fetches_total',
  help: 'JWKS and OIDC discovery fetches, by result.',
  labelNames: ['result'] as const,
  registers: [registry],
});
