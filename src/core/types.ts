// The transport-free contract between the front doors (ext_proc, proxy) and the routing pipeline.
import type { RequestTrace } from '../observability/tracing/request-trace.js';

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
  /** Aborts when the front door gives the request up (decision deadline, client or stream gone). */
  signal?: AbortSignal;
  /** The request's trace, when tracing is on: the pipeline adds a span per step (auth, rate limit, scheduling). */
  trace?: RequestTrace;
}

export interface UpstreamPolicy {
  scheme: 'http' | 'https';
  /** Whole-request timeout from ModelServer.trafficPolicy.timeout; 0 = none. */
  timeoutMs: number;
  /** Each attempt's time to the response headers (ModelRoute.spec.trafficPolicy.headersTimeout); 0 or unset = none. */
  attemptHeadersTimeoutMs?: number;
  /**
   * Each attempt's time to the first body byte of a successful response, for streamed requests only
   * (ModelRoute.spec.trafficPolicy.firstTokenTimeout); 0 or unset = none.
   */
  attemptFirstTokenTimeoutMs?: number;
  /** Extra attempts after the first (ModelServer.trafficPolicy.retry.attempts). */
  retryAttempts: number;
  retryIntervalMs: number;
  /** Set for an ExternalModelProvider target: the base URL the proxy forwards to. */
  baseUrl?: string;
  /** Exponential backoff: the n-th retry waits retryIntervalMs·2^(n-1), up to this. Unset: a constant interval. */
  maxRetryIntervalMs?: number;
  /** Also retry 429 answers (rate-limited providers), waiting at least their Retry-After. */
  retryOnRateLimit?: boolean;
  /** TLS to an external provider: `spec.insecureSkipVerify`, and a PEM CA trusted besides the system roots. */
  tls?: { insecureSkipVerify: boolean; extraCa?: string };
}

export interface RouteDecision {
  kind: 'route';
  /** Primary first, then fallbacks; each `ip:port` (or `host:port` for providers). */
  endpoints: string[];
  /**
   * Headers to set on the upstream request (overwrite). Provider targets also carry the pseudo-headers `:authority`
   * and `:path` (Envoy applies them; the proxy takes the path from `:path` and the authority from `baseUrl`).
   */
  setHeaders: Record<string, string>;
  /** Headers to remove from the upstream request. */
  removeHeaders: string[];
  /** Headers added to the response the client gets: the admitted request's rate-limit state (x-ratelimit-*). */
  clientHeaders?: Record<string, string>;
  /** Replacement request body, when the pipeline rewrote it (e.g. the model name). */
  body?: Buffer;
  upstream: UpstreamPolicy;
  /** Response-path hooks for this request; the front door must call `finish` exactly once in the end. */
  exchange: Exchange;
  /**
   * The decision for the next target of the same ModelRoute rule (e.g. pods down → external provider), for a front
   * door that can still try elsewhere once every attempt here failed before a response. Call it after
   * `exchange.finish`: it runs the pipeline again without the targets tried so far. Absent when no target is left.
   */
  fallback?: () => Promise<Decision>;
  /**
   * Prefill/decode disaggregation run by the front door itself (the standalone proxy, Kthena's convention): it sends
   * the prefill request and the decode request per `protocol` and streams the decode response. Set only for the proxy;
   * ext_proc instead names the prefill endpoint in `x-prefiller-host-port` for llm-d's sidecar on the decode pod.
   */
  prefillDecode?: PrefillDecodePlan;
}

/** How a front door runs prefill/decode disaggregation for one request. */
export interface PrefillDecodePlan {
  /** `http` (LMCache or no connector), `nixl` (vLLM NixlConnector or Mooncake) or `sglang` (bootstrap rooms). */
  protocol: 'http' | 'nixl' | 'sglang';
  /** Pairs to try, best first; `endpoints` lists their decode endpoints in the same order, without repeats. */
  pairs: PrefillDecodeTarget[];
  /** The request body as sent upstream (after any model rewrite), parsed: both phases are built from it. */
  body: Record<string, unknown>;
}

export interface PrefillDecodeTarget {
  /** The prefill endpoint `ip:port`, and its IP alone (SGLang's bootstrap_host). */
  prefill: string;
  prefillIp: string;
  /** The decode endpoint `ip:port`: its response is the client's. */
  decode: string;
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

/** Changes to the upstream response's status line and headers, applied by the front door before the client sees them. */
export interface ResponseHeadersChange {
  /** Replaces the upstream status. */
  status?: number;
  /** Set on the response (overwrite); lower-case names. */
  setHeaders?: Record<string, string>;
  /** Removed from the response (e.g. `content-length` when the body will be replaced); lower-case names. */
  removeHeaders?: string[];
  /** The whole replacement body when it is known already: for a front door that will not see the body. */
  body?: Buffer;
}

/** What the front door tells the pipeline about the upstream response. All methods are cheap and synchronous. */
export interface Exchange {
  readonly requestId: string;
  /** The endpoint that really served the request (envoy.lb served metadata, or the proxy's final attempt). */
  served(address: string): void;
  /**
   * The upstream's status and headers, before any body chunk. May ask the front door to change what the client gets
   * (a provider's auth error answered as 502); nothing returned = relay as is.
   */
  responseHeaders(status: number, headers: HeaderMapLike): ResponseHeadersChange | void;
  /**
   * The request left the router for an upstream: ext_proc sent the pick to the gateway, or the proxy sent an attempt
   * that did not fail to connect. From then on its input tokens stay charged whatever happens to the client.
   */
  dispatched?(): void;
  /** An attempt on `address` failed before any response (connect error, reset, timeout, a retried 5xx or 429). */
  attemptFailed?(address: string): void;
  /** Prefill/decode run by the front door: a prefill request is on its way to `address` (in flight there). */
  prefillStarted?(address: string): void;
  /**
   * That prefill request ended with HTTP `status` (0: no response) and `outcome`: releases its in-flight count and
   * reports the endpoint's health like a served response.
   */
  prefillEnded?(address: string, status: number, outcome: Outcome): void;
  /** A chunk of the response body as it flows (SSE or JSON); returns the bytes to forward (possibly rewritten). */
  responseBody(chunk: Buffer, endOfStream: boolean): Buffer;
  /** The front door answers the client itself (e.g. 502, 504) because the upstream failed; `finish` follows. */
  localReply?(status: number, code: string): void;
  /** Release everything held for the request. Idempotent. */
  finish(outcome: Outcome): void;
}

export interface Pipeline {
  handle(req: InboundRequest): Promise<Decision>;
}
