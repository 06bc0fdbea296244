import type { HeaderMapLike } from '../../core/types.js';

/** Fairness id headers: the Gateway API Inference Extension's name first, then llm-d's rename. */
export const FAIRNESS_ID_HEADERS = ['x-gateway-inference-fairness-id', 'x-llm-d-inference-fairness-id'] as const;
/** Objective headers: name an InferenceObjective, whose priority applies. */
export const OBJECTIVE_HEADERS = ['x-gateway-inference-objective', 'x-llm-d-inference-objective'] as const;

export const DEFAULT_FLOW = 'default';

/**
 * The flow and priority of a request: the flow is the fairness id header, else the user, else one shared flow; the
 * priority is the named objective's (via `priorityOf`, e.g. InferenceObjective.spec.priority), or the header's value
 * itself when it is an integer, else 0. `fromObjective` tells an operator-defined priority from a client's number.
 */
export function flowOf(
  headers: HeaderMapLike,
  user: string | undefined,
  priorityOf?: (objective: string) => number | undefined,
): { flowId: string; priority: number; fromObjective: boolean } {
  const flowId = firstHeader(headers, FAIRNESS_ID_HEADERS) ?? user ?? DEFAULT_FLOW;
  const objective = firstHeader(headers, OBJECTIVE_HEADERS);
  if (objective === undefined) return { flowId, priority: 0, fromObjective: false };
  const named = priorityOf?.(objective);
  if (named !== undefined) return { flowId, priority: named, fromObjective: true };
  return { flowId, priority: /^-?\d+$/.test(objective) ? Number(objective) : 0, fromObjective: false };
}

function firstHeader(headers: HeaderMapLike, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = headers.get(n)?.trim();
    if (v) return v;
  }
  return undefined;
}
