import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import type { ApiError } from '../openai/errors.js';
import type { ModelServerResource, TargetModel } from '../resources/types.js';
import { matchRoute, type RouteMatch } from '../routing/match.js';
import { pickWeighted } from '../routing/weighted.js';
import type { HeaderMapLike } from './types.js';

/** Where a request may go: one ModelServer's (or the pool's) ready endpoints, and how to talk to them. */
export interface Target {
  /** `server:<ns>/<name>` or `pool:<ns>/<name>`. */
  group: string;
  /** Route label for metrics: `<ns>/<route>` or `-`. */
  routeLabel: string;
  match?: RouteMatch;
  server?: ModelServerResource;
  candidates: Endpoint[];
}

export interface PoolRef {
  namespace: string;
  name: string;
}

/**
 * Resolves the request's model to candidate endpoints. In InferencePool mode every request is served by the pool and
 * a matching ModelRoute only contributes the model rewrite; otherwise the ModelRoute decides (404 when no route claims
 * the model) and a weighted target is drawn, falling through to the next target when one has no ready endpoint.
 */
export function resolveTarget(
  ds: Datastore,
  input: { model: string; path: string; headers: HeaderMapLike },
  pool: PoolRef | undefined,
  random: () => number,
): Target | ApiError {
  const { match, claimed } = matchRoute(ds.routes(), input);
  if (pool) {
    const server = match ? firstServer(ds, match) : undefined;
    return {
      group: `pool:${pool.namespace}/${pool.name}`,
      routeLabel: match ? `${match.route.metadata.namespace}/${match.route.metadata.name}` : '-',
      match,
      server,
      candidates: ds.endpointsForPool(pool.namespace, pool.name),
    };
  }
  if (!claimed) {
    return { status: 404, code: 'model_not_found', message: `The model '${input.model}' does not exist` };
  }
  if (!match) {
    return { status: 404, code: 'route_not_found', message: `no rule of the route for '${input.model}' matches` };
  }
  const ns = match.route.metadata.namespace;
  const tried = new Set<TargetModel>();
  let lastServer: ModelServerResource | undefined;
  for (;;) {
    const t = pickWeighted(match.rule.targetModels, random, tried);
    if (!t) break;
    tried.add(t);
    if (!t.modelServerName) continue; // external providers are not routable to pods
    const server = ds.modelServer(ns, t.modelServerName);
    if (!server) continue;
    lastServer = server;
    const candidates = ds.endpointsForServer(ns, t.modelServerName);
    if (candidates.length === 0) continue;
    return {
      group: `server:${ns}/${t.modelServerName}`,
      routeLabel: `${ns}/${match.route.metadata.name}`,
      match,
      server,
      candidates,
    };
  }
  return {
    status: 503,
    code: 'no_ready_endpoint',
    message: lastServer
      ? `no ready endpoint serves the model '${input.model}'`
      : `the route for '${input.model}' names no existing ModelServer`,
  };
}

function firstServer(ds: Datastore, match: RouteMatch): ModelServerResource | undefined {
  for (const t of match.rule.targetModels) {
    if (t.modelServerName) {
      const s = ds.modelServer(match.route.metadata.namespace, t.modelServerName);
      if (s) return s;
    }
  }
  return undefined;
}
