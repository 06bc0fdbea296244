import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import type { HeaderMapLike, ResponseHeadersChange, RouteDecision } from '../../core/types.js';

// Header handling at both hops of the proxy: hop-by-hop headers (RFC 9110 §7.6.1) never cross it, the router's own
// routing headers are never taken from a client, and the body length is always recomputed.

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/** Set only by the router (gateway protocol); a client-supplied value could steer or spoof routing. */
const SYSTEM_PREFIX = 'x-gateway-destination-endpoint';

/**
 * Request headers the proxy itself controls: `host` becomes the upstream authority (undici sets it), `content-length`
 * is recomputed from the forwarded body and `expect` was already answered by node's server.
 */
const RECOMPUTED_REQUEST = new Set(['host', 'content-length', 'expect']);

/** The client's headers as the pipeline sees them: lower-cased names, repeated values joined. */
export function inboundHeaders(req: IncomingMessage): HeaderMapLike {
  const out: HeaderMapLike = new Map();
  const distinct = req.headersDistinct;
  for (const name in distinct) {
    const values = distinct[name]!;
    out.set(name, values.join(name === 'cookie' ? '; ' : ', '));
  }
  return out;
}

function isHopByHop(name: string, connectionTokens: Set<string>): boolean {
  return HOP_BY_HOP.has(name) || name.startsWith('proxy-') || connectionTokens.has(name);
}

function connectionTokens(value: string | undefined): Set<string> {
  const tokens = new Set<string>();
  if (!value) return tokens;
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name) tokens.add(name);
  }
  return tokens;
}

export interface ForwardedFor {
  clientIp: string | undefined;
  /** `host` the client used, passed on as x-forwarded-host. */
  host: string | undefined;
  /** The peer is a trusted proxy: its x-forwarded-host / x-forwarded-proto describe the original request. */
  trustForwarded?: boolean;
}

/** Headers for the upstream request, from the client's headers and the decision's mutations. */
export function upstreamHeaders(
  client: HeaderMapLike,
  decision: Pick<RouteDecision, 'setHeaders' | 'removeHeaders'>,
  bodyLength: number,
  fwd: ForwardedFor,
): Record<string, string> {
  const drop = connectionTokens(client.get('connection'));
  const out: Record<string, string> = {};
  for (const [name, value] of client) {
    if (isHopByHop(name, drop) || RECOMPUTED_REQUEST.has(name) || name.startsWith(SYSTEM_PREFIX)) continue;
    out[name] = value;
  }
  if (fwd.clientIp) {
    const prior = client.get('x-forwarded-for');
    out['x-forwarded-for'] = prior ? `${prior}, ${fwd.clientIp}` : fwd.clientIp;
  }
  // A trusted proxy in front (a TLS terminator) knows the original scheme and host; a client's own claims are
  // replaced, so that a pod building URLs or policies from them cannot be misled.
  const trusted = (name: string) => (fwd.trustForwarded ? client.get(name) : undefined);
  out['x-forwarded-proto'] = trusted('x-forwarded-proto') ?? 'http';
  const host = trusted('x-forwarded-host') ?? fwd.host;
  if (host) out['x-forwarded-host'] = host;
  else delete out['x-forwarded-host'];
  if (!fwd.trustForwarded) delete out['forwarded']; // RFC 7239 carries the same claims
  for (const name of decision.removeHeaders) delete out[name.toLowerCase()];
  // Pseudo-headers (`:authority`, `:path` of a provider decision) are Envoy's; the proxy addresses the request itself.
  for (const [name, value] of Object.entries(decision.setHeaders)) if (!name.startsWith(':')) out[name.toLowerCase()] = value;
  if (bodyLength > 0) out['content-length'] = String(bodyLength);
  return out;
}

export interface DownstreamHeaders {
  /** For `res.writeHead`: repeated headers (set-cookie) stay arrays. */
  client: OutgoingHttpHeaders;
  /** For the exchange: joined values. */
  map: HeaderMapLike;
}

/**
 * The upstream response's headers for the client. `content-length` is dropped because the exchange may rewrite the
 * body (the model name) and so change its length; node then frames the body with chunked encoding.
 */
export function downstreamHeaders(upstream: IncomingHttpHeaders | Record<string, string | string[] | undefined>): DownstreamHeaders {
  const connection = upstream.connection;
  const drop = connectionTokens(Array.isArray(connection) ? connection.join(',') : connection);
  const client: OutgoingHttpHeaders = {};
  const map: HeaderMapLike = new Map();
  for (const name in upstream) {
    const value = upstream[name];
    if (value === undefined) continue;
    const lower = name.toLowerCase();
    if (isHopByHop(lower, drop) || lower === 'content-length') continue;
    client[lower] = value;
    map.set(lower, Array.isArray(value) ? value.join(', ') : value);
  }
  return { client, map };
}

/** Applies the exchange's change to the client's response headers (in place); returns the status to answer with. */
export function applyHeadersChange(change: ResponseHeadersChange, client: OutgoingHttpHeaders, upstreamStatus: number): number {
  for (const name of change.removeHeaders ?? []) delete client[name];
  for (const [name, value] of Object.entries(change.setHeaders ?? {})) client[name] = value;
  return change.status ?? upstreamStatus;
}
