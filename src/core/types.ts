// The transport-free contract between the front doors (ext_proc, proxy) and the routing pipeline.

/** Lower-cased header name → value. Repeated headers are joined with ", " by the front door. */
export type HeaderMapLike = Map<string, string>;

export interface InboundRequest {
  method: string;
  /** `:path` including the query string. */
  path: string;
  headers: HeaderMapLike;
  body: Buffer;
  /** Endpoints the gateway allows (`envoy.lb.subset_hint`); undefined = no restriction. */
  subset?: string[];
  frontend: 'extproc' | 'proxy';
}

export interface UpstreamPolicy {
  scheme: 'http' | 'https';
  /** Whole-request timeout from ModelServer.trafficPolicy.timeout; 0 = none. */
  timeoutMs: number;
  /** Extra attempts after the first (ModelServer.trafficPolicy.retry.attempts). */
  retryAttempts: number;
  retryIntervalMs: number;
  /** Set for an ExternalModelProvider target: the base URL the proxy forwards to. */
  baseUrl?: string;
}

export interface RouteDecision {
  kind: 'route';
  /** Primary first, then fallbacks; each `ip:port` (or `host:port` for providers). */
  endpoints: string[];
  /** Headers to set on the upstream request (overwrite). */
  setHeaders: Record<string, string>;
  /** Headers to remove from the upstream request. */
  removeHeaders: string[];
  /** Replacement request body, when the pipeline rewrote it (e.g. the model name). */
  body?: Buffer;
  upstream: UpstreamPolicy;
  /** Response-path hooks for this request; the front door must call `finish` exactly once in the end. */
  exchange: Exchange;
}

export interface RejectDecision {
  kind: 'reject';
  status: number;
  /** OpenAI-style JSON error body. */
  body: Buffer;
  headers: Record<string, string>;
}

export type Decision = RouteDecision | RejectDecision;

export type Outcome = 'success' | 'error' | 'cancelled';

/** What the front door tells the pipeline about the upstream response. All methods are cheap and synchronous. */
export interface Exchange {
  readonly requestId: string;
  /** The endpoint that really served the request (envoy.lb served metadata, or the proxy's final attempt). */
  served(address: string): void;
  /** Returns headers to add to the response sent to the client, if any. */
  responseHeaders(status: number, headers: HeaderMapLike): Record<string, string> | undefined;
  /** A chunk of the response body as it flows (SSE or JSON); returns the bytes to forward (possibly rewritten). */
  responseBody(chunk: Buffer, endOfStream: boolean): Buffer;
  /** Release everything held for the request. Idempotent. */
  finish(outcome: Outcome): void;
}

export interface Pipeline {
  handle(req: InboundRequest): Promise<Decision>;
}
