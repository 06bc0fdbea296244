import { INFERENCE_POOL_GROUPS, KTHENA_GROUP } from '../../resources/schema.js';
import type { InferenceObjectiveResource, ObjectivePoolRef } from '../../resources/types.js';

/** The priority objective `name` gives a request routed to routing group `group`; undefined: none applies there. */
export type ObjectivePriority = (group: string, name: string) => number | undefined;

interface RoutingTarget {
  kind: 'InferencePool' | 'ModelServer';
  namespace: string;
  name: string;
}

/**
 * Resolves objective names as the Gateway API Inference Extension scopes them: the InferenceObjective of that name in
 * the namespace of the request's routing group, and only when its poolRef names that group. A `pool:` group matches
 * a poolRef to the InferencePool (either API group: the datastore merges both versions by name); a `server:` group
 * matches, as our extension, a poolRef `{group: networking.serving.volcano.sh, kind: ModelServer}`. Other groups
 * (external providers) have no objectives.
 */
export function objectivePriorities(
  find: (namespace: string, name: string) => InferenceObjectiveResource | undefined,
): ObjectivePriority {
  return (group, name) => {
    const target = routingTarget(group);
    if (!target) return undefined;
    const objective = find(target.namespace, name);
    return objective && bindsTo(objective.spec.poolRef, target) ? objective.spec.priority : undefined;
  };
}

/** `pool:<ns>/<name>` or `server:<ns>/<name>` (the datastore's group keys). */
function routingTarget(group: string): RoutingTarget | undefined {
  const m = /^(pool|server):([^/]+)\/([^/]+)$/.exec(group);
  if (!m) return undefined;
  return { kind: m[1] === 'pool' ? 'InferencePool' : 'ModelServer', namespace: m[2]!, name: m[3]! };
}

function bindsTo(ref: ObjectivePoolRef, target: RoutingTarget): boolean {
  if (ref.kind !== target.kind || ref.name !== target.name) return false;
  return target.kind === 'InferencePool'
    ? (INFERENCE_POOL_GROUPS as readonly string[]).includes(ref.group)
    : ref.group === KTHENA_GROUP;
}
