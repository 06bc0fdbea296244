import type { HeaderMapLike } from '../core/types.js';
import type { ModelRouteResource, RouteRule } from '../resources/types.js';
import { matchString } from './string-match.js';

export interface RouteMatch {
  route: ModelRouteResource;
  rule: RouteRule;
  /** True when the request's model is one of the route's LoRA adapters: the name goes to the engine unchanged. */
  viaLora: boolean;
}

export interface MatchInput {
  model: string;
  path: string;
  headers: HeaderMapLike;
}

/**
 * Finds the ModelRoute that claims the request's model (by `modelName` or `loraAdapters`; routes come oldest first,
 * so the oldest claim wins), then its first rule whose `modelMatch` holds. `claimed` tells a 404 for an unknown model
 * apart from a known model whose rules do not match this request.
 */
export function matchRoute(
  routes: ModelRouteResource[],
  input: MatchInput,
): { match?: RouteMatch; claimed: boolean } {
  for (const route of routes) {
    const viaLora = route.spec.modelName !== input.model && route.spec.loraAdapters.includes(input.model);
    if (route.spec.modelName !== input.model && !viaLora) continue;
    const rule = route.spec.rules.find((r) => ruleMatches(r, input));
    return { match: rule ? { route, rule, viaLora } : undefined, claimed: true };
  }
  return { claimed: false };
}

function ruleMatches(rule: RouteRule, input: MatchInput): boolean {
  const mm = rule.modelMatch;
  if (!mm) return true;
  if (mm.body?.model !== undefined && mm.body.model !== input.model) return false;
  if (mm.uri && !matchString(mm.uri, stripQuery(input.path))) return false;
  for (const [name, m] of Object.entries(mm.headers ?? {})) {
    if (!matchString(m, input.headers.get(name))) return false;
  }
  return true;
}

function stripQuery(path: string): string {
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
