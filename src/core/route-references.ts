import type { Datastore } from '../datastore/datastore.js';
import type { Logger } from '../observability/logger.js';
import type { ModelRouteResource } from '../resources/types.js';

/** The targets of a route's rules that name no existing ModelServer / ExternalModelProvider (in its namespace). */
export function missingTargets(ds: Datastore, route: ModelRouteResource): string[] {
  const ns = route.metadata.namespace;
  const missing = new Set<string>();
  for (const rule of route.spec.rules) {
    for (const t of rule.targetModels) {
      if (t.modelServerName && !ds.modelServer(ns, t.modelServerName)) missing.add(`ModelServer ${ns}/${t.modelServerName}`);
      if (t.externalModelProviderName && !ds.provider(ns, t.externalModelProviderName)) {
        missing.add(`ExternalModelProvider ${ns}/${t.externalModelProviderName}`);
      }
    }
  }
  return [...missing];
}

/** Whether some target of the route exists: a route whose every target is missing can serve nothing. */
export function routeResolves(ds: Datastore, route: ModelRouteResource): boolean {
  const ns = route.metadata.namespace;
  return route.spec.rules.some((rule) =>
    rule.targetModels.some(
      (t) =>
        (t.modelServerName !== undefined && ds.modelServer(ns, t.modelServerName) !== undefined) ||
        (t.externalModelProviderName !== undefined && ds.provider(ns, t.externalModelProviderName) !== undefined),
    ),
  );
}

/**
 * Warns once per dangling reference (a ModelRoute naming a ModelServer or provider that does not exist, usually a
 * typo), now and after every change, and notes when it resolves. Returns the unsubscribe function.
 */
export function warnDanglingRoutes(ds: Datastore, log: Logger): () => void {
  let known = new Set<string>();
  let pending = false;
  const check = () => {
    pending = false;
    const now = new Set<string>();
    for (const route of ds.routes()) {
      const label = `ModelRoute ${route.metadata.namespace}/${route.metadata.name}`;
      for (const target of missingTargets(ds, route)) {
        const id = `${label} → ${target}`;
        now.add(id);
        if (!known.has(id)) log.warn(`${label} names ${target}, which does not exist; not listed in /v1/models until a target exists`);
      }
    }
    for (const id of known) if (!now.has(id)) log.info(`resolved: ${id}`);
    known = now;
  };
  check();
  return ds.onChange(() => {
    if (pending) return;
    pending = true;
    queueMicrotask(check);
  });
}
