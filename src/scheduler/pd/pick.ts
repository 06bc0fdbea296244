import type { Endpoint } from '../../datastore/endpoint.js';
import type { PDGroup } from '../../resources/types.js';

export interface PrefillDecodePair {
  prefill: Endpoint;
  decode: Endpoint;
}

/**
 * Prefill/decode disaggregation (ModelServer.spec.workloadSelector.pdGroup): the best decode endpoint, by `score`
 * (which returns endpoints ranked best first, the normal filters and scorers), that has a prefill endpoint in the same
 * group (same value of the `groupKey` label), and the best of those prefill endpoints. Endpoints without the group
 * label belong to no group. Undefined when no decode endpoint has a prefill partner.
 */
export function pickPrefillDecode(
  endpoints: readonly Endpoint[],
  pdGroup: PDGroup,
  score: (eps: Endpoint[]) => Endpoint[],
): PrefillDecodePair | undefined {
  return prefillDecodePairs(endpoints, pdGroup, score).next().value ?? undefined;
}

/**
 * Every pair to try, best first, for a front door that fails over between pairs: each ranked decode endpoint with
 * each ranked prefill endpoint of its group (so the second pair keeps the best decode endpoint and swaps the prefill
 * endpoint). Both rankings are `score`'s, which keeps at most the scheduler's topN, so the list stays short.
 */
export function rankPrefillDecode(
  endpoints: readonly Endpoint[],
  pdGroup: PDGroup,
  score: (eps: Endpoint[]) => Endpoint[],
): PrefillDecodePair[] {
  return [...prefillDecodePairs(endpoints, pdGroup, score)];
}

/** Pairs in rank order, computed lazily: each group's prefill endpoints are scored once, when first needed. */
function* prefillDecodePairs(
  endpoints: readonly Endpoint[],
  pdGroup: PDGroup,
  score: (eps: Endpoint[]) => Endpoint[],
): Generator<PrefillDecodePair, undefined> {
  const prefillsByGroup = new Map<string, Endpoint[]>();
  for (const e of endpoints) {
    const g = e.labels[pdGroup.groupKey];
    if (g === undefined || !hasLabels(e, pdGroup.prefillLabels)) continue;
    let list = prefillsByGroup.get(g);
    if (!list) prefillsByGroup.set(g, (list = []));
    list.push(e);
  }
  const decodes = endpoints.filter((e) => {
    const g = e.labels[pdGroup.groupKey];
    return g !== undefined && prefillsByGroup.has(g) && hasLabels(e, pdGroup.decodeLabels);
  });
  if (decodes.length === 0) return undefined;
  const ranked = new Map<string, Endpoint[]>();
  for (const decode of score(decodes)) {
    const g = decode.labels[pdGroup.groupKey]!;
    let prefills = ranked.get(g);
    if (!prefills) ranked.set(g, (prefills = score(prefillsByGroup.get(g)!)));
    for (const prefill of prefills) yield { prefill, decode };
  }
  return undefined;
}

function hasLabels(e: Endpoint, labels: Record<string, string>): boolean {
  for (const [k, v] of Object.entries(labels)) if (e.labels[k] !== v) return false;
  return true;
}
