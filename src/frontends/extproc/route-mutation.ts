import type { HeaderMapLike, RouteDecision } from '../../core/types.js';
import { DESTINATION_HEADER, isSystemOwnedHeader } from './gateway-protocol.js';
import { overwriteHeader } from './header-map.js';
import type { HeaderMutation } from './wire.js';

export interface RouteMutationInput {
  decision: RouteDecision;
  destination: string;
  /** The headers the client sent (regular headers, lower-cased). */
  clientHeaders: HeaderMapLike;
  /** Set when the front door generated the request id (the client sent none). */
  generatedRequestId?: string;
  /** New body length when the body was replaced. */
  replacedBodyLength?: number;
}

/**
 * The upstream request's header changes for a routing decision. Envoy applies removals before sets, and
 * later sets win, so the destination header goes last and always overwrites a client-sent value.
 */
export function routeHeaderMutation(input: RouteMutationInput): HeaderMutation {
  const { decision, destination, clientHeaders, generatedRequestId, replacedBodyLength } = input;
  const set_headers = Object.entries(decision.setHeaders).map(([k, v]) => overwriteHeader(k, v));
  if (generatedRequestId !== undefined) set_headers.push(overwriteHeader('x-request-id', generatedRequestId));
  if (replacedBodyLength !== undefined) set_headers.push(overwriteHeader('content-length', String(replacedBodyLength)));
  set_headers.push(overwriteHeader(DESTINATION_HEADER, destination));

  const remove = new Set(decision.removeHeaders.map((h) => h.toLowerCase()));
  for (const name of clientHeaders.keys()) {
    if (isSystemOwnedHeader(name) && name !== DESTINATION_HEADER) remove.add(name);
  }
  return { set_headers, remove_headers: [...remove] };
}
