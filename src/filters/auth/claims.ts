import type { ClaimMapping } from './config.js';
import { invalidToken } from './errors.js';
import type { Principal } from './types.js';

// Maps token claims (JWT payload or introspection response) to a Principal as configured.

export function principalFromClaims(claims: Record<string, unknown>, map: ClaimMapping, method: Principal['method']): Principal {
  const user = map.user.map((path) => claim(claims, path)).find((v): v is string => typeof v === 'string' && v !== '');
  if (!user) throw invalidToken('missing_subject', 'The access token does not identify a user.');
  const tenant = map.tenant ? asString(claim(claims, map.tenant)) : undefined;
  const tier = map.tier ? asString(claim(claims, map.tier)) : undefined;
  return { user, tenant: tenant ?? user, tier, groups: map.groups ? asList(claim(claims, map.groups)) : [], method };
}

/** Dotted path lookup; a claim whose own name contains dots (e.g. a URL namespace) is found too. */
export function claim(claims: Record<string, unknown>, path: string): unknown {
  if (path in claims) return claims[path];
  let cur: unknown = claims;
  for (const part of path.split('.')) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : typeof v === 'number' ? String(v) : undefined;
}

/** Groups may be a JSON array or a space/comma separated string (OAuth `scope` style). */
function asList(v: unknown): string[] {
  if (Array.isArray(v)) return v.filter((x): x is string => typeof x === 'string' && x !== '');
  if (typeof v === 'string') return v.split(/[\s,]+/).filter(Boolean);
  return [];
}
