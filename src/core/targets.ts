import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import type { ApiError } from '../openai/errors.js';
import { noEndpointError } from './drop-reason.js';
import type { EjectionView } from '../providers/outlier-detector.js';
import { providerKey, resolveProvider, type ResolvedProvider } from '../providers/resolve.js';
import type { ModelServerResource, TargetModel } from '../resources/types.js';
import { matchRoute, type RouteMatch } from '../routing/match.js';
import { pickWeighted } from '../routing/weighted.js';
import { fleetSaturated } from '../scheduler/fairness/saturation.js';
import { overflowTargets, type SpillOverConfig } from './spill-over.js';
import type { HeaderMapLike } from './types.js';

/** Where a request may go: one ModelServer's (or the pool's) ready endpoints, or an external provider. */
export interface Target {
  /** `server:<ns>/<name>`, `pool:<ns>/<name>` or `provider:<ns>/<name>`. */
  group: string;
  /** Route label for metrics: `<ns>/<route>` or `-`. */
  routeLabel: string;
  match?: RouteMatch;
  server?: ModelServerResource;
  /** Set for an ExternalModelProvider target (then there are no candidates). */
  provider?: ResolvedProvider;
  candidates: Endpoint[];
  /** Set when the provider takes the request as overflow: every eligible pod of the route was saturated. */
  spilled?: boolean;
}

export interface ResolveOptions {
  /** Outlier detection: ejected pods are left out, and a target with nothing left counts as having no capacity. */
  ejections?: EjectionView;
  /** Targets (groups) already tried for this request: the fallback after they failed. */
  exclude?: ReadonlySet<string>;
  /** Spill-over policies by route: their provider targets only take overflow. */
  spillOver?: SpillOverConfig;
}

export interface PoolRef {
  namespace: string;
  name: string;
}

/**
 * Resolves the request's model to candidate endpoints. In InferencePool mode every request is served by the pool and
 * a matching ModelRoute only contributes the model rewrite; otherwise the ModelRoute decides (404 when no route claims
 * the model) and a weighted target is drawn, falling through to the next target when one has no capacity: no ready
 * endpoint, every endpoint ejected, or an unusable or ejected provider. When the only targets left are out by
 * ejection, the first of them is used anyway (ejecting everything would serve no one).
 */
export function resolveTarget(
  ds: Datastore,
  input: { model: string; path: string; headers: HeaderMapLike },
  pool: PoolRef | undefined,
  random: () => number,
  opts: ResolveOptions = {},
): Target | ApiError {
  const healthy = (eps: Endpoint[]) => (opts.ejections ? eps.filter((e) => !opts.ejections!.isEjected(e.address)) : eps);
  const { match, claimed } = matchRoute(ds.routes(), input);
  if (pool) {
    const server = match ? firstServer(ds, match) : undefined;
    const all = ds.endpointsForPool(pool.namespace, pool.name);
    return {
      group: `pool:${pool.namespace}/${pool.name}`,
      routeLabel: match ? `${match.route.metadata.namespace}/${match.route.metadata.name}` : '-',
      match,
      server,
      candidates: orAll(healthy(all), all),
    };
  }
  if (!claimed) {
    return { status: 404, code: 'model_not_found', message: `The model '${input.model}' does not exist` };
  }
  if (!match) {
    return { status: 404, code: 'route_not_found', message: `no rule of the route for '${input.model}' matches` };
  }
  const ns = match.route.metadata.namespace;
  const routeLabel = `${ns}/${match.route.metadata.name}`;
  const tried = new Set<TargetModel>();
  const spill = opts.spillOver?.get(routeLabel);
  // With spill-over the overflow providers are never drawn by weight: they serve only when the pods cannot.
  const overflow = spill ? overflowTargets(match.rule.targetModels, spill) : [];
  for (const t of overflow) tried.add(t);
  let lastServer: ModelServerResource | undefined;
  let allEjected: Target | undefined;
  let allSaturated: Target | undefined;
  let providerProblem: string | undefined;
  for (;;) {
    const t = pickWeighted(match.rule.targetModels, random, tried);
    if (!t) break;
    tried.add(t);
    const group = targetGroup(ns, t);
    if (!group || opts.exclude?.has(group)) continue;
    if (t.externalModelProviderName) {
      const provider = resolveProvider(ds, ns, t.externalModelProviderName);
      if ('unavailable' in provider) {
        providerProblem = provider.unavailable;
        continue;
      }
      const target: Target = { group, routeLabel, match, provider, candidates: [] };
      if (!opts.ejections?.isEjected(provider.key)) return target;
      allEjected ??= target;
      continue;
    }
    const server = ds.modelServer(ns, t.modelServerName!);
    if (!server) continue;
    lastServer = server;
    const ready = ds.endpointsForServer(ns, t.modelServerName!);
    if (ready.length === 0) continue;
    const candidates = healthy(ready);
    if (candidates.length === 0) {
      allEjected ??= { group, routeLabel, match, server, candidates: ready };
      continue;
    }
    if (spill && fleetSaturated(candidates, spill.saturation)) {
      allSaturated ??= { group, routeLabel, match, server, candidates };
      continue;
    }
    return { group, routeLabel, match, server, candidates };
  }
  for (const t of overflow) {
    const group = targetGroup(ns, t)!;
    if (opts.exclude?.has(group)) continue;
    const provider = resolveProvider(ds, ns, t.externalModelProviderName!);
    if ('unavailable' in provider) {
      providerProblem = provider.unavailable;
      continue;
    }
    if (opts.ejections?.isEjected(provider.key)) continue;
    return { group, routeLabel, match, provider, candidates: [], spilled: allSaturated !== undefined };
  }
  // No overflow provider can take it: saturated pods still serve (flow control then holds or sheds as usual).
  if (allSaturated) return allSaturated;
  if (allEjected) return allEjected;
  return noEndpointError(
    lastServer
      ? `no ready endpoint serves the model '${input.model}'`
      : (providerProblem ?? `the route for '${input.model}' names no existing ModelServer`),
  );
}

/** The routing group of a rule's target: `server:<ns>/<name>` or `provider:<ns>/<name>`. */
function targetGroup(namespace: string, t: TargetModel): string | undefined {
  if (t.modelServerName) return `server:${namespace}/${t.modelServerName}`;
  if (t.externalModelProviderName) return providerKey(namespace, t.externalModelProviderName);
  return undefined;
}

/** Whether the rule still has a target besides those tried: worth offering a fallback decision. */
export function hasOtherTarget(match: RouteMatch, namespace: string, tried: ReadonlySet<string>): boolean {
  return match.rule.targetModels.some((t) => {
    const group = targetGroup(namespace, t);
    return group !== undefined && !tried.has(group);
  });
}

function orAll(healthy: Endpoint[], all: Endpoint[]): Endpoint[] {
  return healthy.length > 0 ? healthy : all;
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
