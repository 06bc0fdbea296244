import type { HeaderMapLike } from '../../core/types.js';

/** Fairness id headers: the Gateway API Inference Extension's name first, then llm-d's rename. */
export const FAIRNESS_ID_HEADERS = ['x-gateway-inference-fairness-id', 'x-llm-d-inference-fairness-id'] as const;
/** Objective headers: name an InferenceObjective, whose priority applies. */
export const OBJECTIVE_HEADERS = ['x-gateway-inference-objective', 'x-llm-d-inference-objective'] as const;

export const DEFAULT_FLOW = 'default';

/**
 * The flow and priority of a request: the flow is the fairness id header, else the user, else one shared flow; the
 * priority is the named objective's (via `priorityOf`, e.g. InferenceObjective.spec.priority), or the header's value
 * itself when it is an integer, else 0.
 */
export function flowOf(
  headers: HeaderMapLike,
  user: string | undefined,
  priorityOf?: (objective: string) => number | undefined,
): { flowId: string; priority: number } {
  const flowId = firstHeader(headers, FAIRNESS_ID_HEADERS) ?? user ?? DEFAULT_FLOW;
  const objective = firstHeader(headers, OBJECTIVE_HEADERS);
  let priority = 0;
  if (objective !== undefined) {
    const named = priorityOf?.(objective);
    if (named !== undefined) priority = named;
    else if (/^-?\d+$/.test(objective)) priority = Number(objective);
  }
  return { flowId, priority };
}

function firstHeader(headers: HeaderMapLike, names: readonly string[]): string | undefined {
  for (const n of names) {
    const v = headers.get(n)?.trim();
    if (v) return v;
  }
  return undefined;
}
