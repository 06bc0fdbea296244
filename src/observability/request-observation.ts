import type { InboundRequest, Outcome } from '../core/types.js';
import type { Principal } from '../core/filters.js';
import { apiKind } from '../openai/request.js';
import type { AccessLog, AccessRecord } from './access-log.js';
import {
  objectiveDuration,
  objectiveErrors,
  objectiveInputTokens,
  objectiveNtpot,
  objectiveOutputTokens,
  objectiveRequestSizes,
  objectiveRequests,
  objectiveResponseSizes,
  objectiveRunning,
  objectiveTpot,
  objectiveTtft,
} from './gie-metrics.js';
import {
  activeDownstream,
  activeUpstream,
  decodeDuration,
  prefillDuration,
  rateLimitExceeded,
  requestDuration,
  requestsTotal,
  tokensTotal,
} from './kthena-metrics.js';

/** Where a request was sent: Kthena's destination labels (`none` where they do not apply). */
export interface Destination {
  /** `<ns>/<name>` of the ModelRoute, or none. */
  modelRoute: string;
  backendType: 'model_server' | 'external_provider' | 'inference_pool' | 'none';
  /** `<ns>/<name>` of the ModelServer, InferencePool or ExternalModelProvider. */
  backendName: string;
  upstreamModel: string;
}

export type LimitType = 'requests' | 'input_tokens' | 'output_tokens';

const NONE: Destination = { modelRoute: 'none', backendType: 'none', backendName: 'none', upstreamModel: 'unknown' };
const API_PATHS: Record<string, string> = {
  chat: '/v1/chat/completions',
  completions: '/v1/completions',
  embeddings: '/v1/embeddings',
};

/**
 * One client request seen from the outside: collects what the pipeline and the response path learn about it and,
 * once it ends, records Kthena's and GIE's per-request series and writes the access-log line, exactly once.
 */
export class RequestObservation {
  private readonly started = performance.now();
  private readonly timestamp = new Date().toISOString();
  /** Bounded path label: the API served, or `other` (never a client-chosen path). */
  private readonly pathLabel: string;
  private requestId?: string;
  private clientModel?: string;
  private streamed = false;
  private requestBytes = 0;
  private destination = NONE;
  private principal?: Principal;
  private inputTokens = 0;
  private limitType?: LimitType;
  private selectedPod?: string;
  private servedPod?: string;
  private firstTokenAt?: number;
  private responseBytes = 0;
  private prefillStart?: number;
  private prefillEnd?: number;
  private upstreamOpen = false;
  private upstreamServer = 'none';
  private downstreamOpen = false;
  private ended = false;
  /** A route attempt ended, to be recorded unless the route's fallback takes over in the same tick. */
  private pendingEnd?: () => void;

  constructor(
    private readonly req: Pick<InboundRequest, 'method' | 'path' | 'frontend'>,
    private readonly accessLog?: AccessLog,
  ) {
    const kind = apiKind(req.path);
    this.pathLabel = API_PATHS[kind] ?? (/\/models\/?(\?|$)/.test(req.path) ? '/v1/models' : 'other');
  }

  identified(requestId: string): void {
    this.requestId = requestId;
  }

  parsed(model: string, stream: boolean, bytes: number): void {
    this.clientModel = model;
    this.streamed = stream;
    this.requestBytes = bytes;
  }

  /** The model is known to a route (or the pool): from here on it is a bounded label and counts as in progress. */
  routed(destination: Destination): void {
    this.destination = destination;
    if (this.downstreamOpen || !this.clientModel) return;
    this.downstreamOpen = true;
    activeDownstream.inc({ model: this.clientModel });
    objectiveRunning.inc({ model_name: this.clientModel });
  }

  authenticated(principal: Principal, inputTokens: number): void {
    this.principal = principal;
    this.inputTokens = inputTokens;
  }

  rateLimited(limitType: LimitType): void {
    this.limitType = limitType;
    rateLimitExceeded.inc({ model: this.modelLabel(), limit_type: limitType, path: this.pathLabel });
  }

  selected(pod: string | undefined): void {
    this.selectedPod = pod;
  }

  /** The response path started: an upstream request is open until the request ends. */
  upstreamStarted(modelServer: string): void {
    if (this.upstreamOpen) return;
    this.upstreamOpen = true;
    this.upstreamServer = modelServer;
    activeUpstream.inc(this.upstreamLabels(modelServer));
  }

  served(pod: string | undefined): void {
    this.servedPod = pod;
  }

  prefillStarted(): void {
    this.prefillStart ??= performance.now();
  }

  prefillEnded(): void {
    this.prefillEnd = performance.now();
  }

  /** A chunk of the response body went to the client; the first one of a stream carries the first token. */
  responseChunk(bytes: number): void {
    if (bytes === 0) return;
    this.responseBytes += bytes;
    if (this.firstTokenAt === undefined && this.streamed) this.firstTokenAt = performance.now();
  }

  /** The pipeline refused the request with this OpenAI-style error body. */
  rejected(status: number, body: Buffer): void {
    let code: string | undefined;
    let message: string | undefined;
    try {
      ({ code, message } = JSON.parse(body.toString('utf8')).error ?? {});
    } catch {
      // Not ours to fail on: the status still says enough.
    }
    this.end(status, { type: this.errorType(status, code), message }, undefined);
  }

  /** The route's exchange ended; recorded at the end of the tick unless `supersede` (the route's fallback) follows. */
  exchangeEnded(status: number, outcome: Outcome, outputTokens: number | undefined, localError?: { status: number; code: string }): void {
    this.closeUpstream();
    const finalStatus = localError?.status ?? status;
    let error: AccessRecord['error'];
    if (localError) error = { type: this.errorType(localError.status, localError.code), message: localError.code };
    else if (outcome === 'cancelled') error = { type: 'cancelled' };
    else if (status === 0 && outcome === 'error') error = { type: 'proxy' };
    else if (status >= 500) error = { type: 'upstream' };
    this.pendingEnd = () => this.end(finalStatus, error, outputTokens);
    queueMicrotask(() => {
      const end = this.pendingEnd;
      this.pendingEnd = undefined;
      end?.();
    });
  }

  /** The route's fallback takes over: the attempt that just ended is not the request's end. */
  supersede(): void {
    this.pendingEnd = undefined;
    this.firstTokenAt = undefined;
    this.responseBytes = 0;
    this.servedPod = undefined;
  }

  /** The pipeline failed unexpectedly. */
  failed(): void {
    this.end(500, { type: 'internal' }, undefined);
  }

  private closeUpstream(): void {
    if (!this.upstreamOpen) return;
    this.upstreamOpen = false;
    activeUpstream.dec(this.upstreamLabels(this.upstreamServer));
  }

  private upstreamLabels(modelServer: string) {
    const d = this.destination;
    return { model_server: modelServer, model_route: d.modelRoute, backend_type: d.backendType, backend_name: d.backendName, upstream_model: d.upstreamModel };
  }

  private modelLabel(): string {
    return this.downstreamOpen && this.clientModel ? this.clientModel : 'unknown';
  }

  private end(status: number, error: AccessRecord['error'], outputTokens: number | undefined): void {
    if (this.ended) return;
    this.ended = true;
    this.closeUpstream();
    const now = performance.now();
    const seconds = (now - this.started) / 1000;
    const model = this.modelLabel();
    const d = this.destination;
    const dest = { model_route: d.modelRoute, backend_type: d.backendType, backend_name: d.backendName, upstream_model: d.upstreamModel };
    const statusCode = String(status);
    requestsTotal.inc({ model, path: this.pathLabel, status_code: statusCode, error_type: error?.type ?? '', ...dest });
    requestDuration.observe({ model, path: this.pathLabel, status_code: statusCode, ...dest }, seconds);
    if (this.inputTokens > 0) tokensTotal.inc({ model, path: this.pathLabel, token_type: 'input', ...dest }, this.inputTokens);
    if (outputTokens) tokensTotal.inc({ model, path: this.pathLabel, token_type: 'output', ...dest }, outputTokens);
    if (this.prefillStart !== undefined) {
      const prefillEnd = this.prefillEnd ?? now;
      prefillDuration.observe({ model, path: this.pathLabel, status_code: statusCode }, (prefillEnd - this.prefillStart) / 1000);
      decodeDuration.observe({ model, path: this.pathLabel, status_code: statusCode }, (now - prefillEnd) / 1000);
    }
    if (this.downstreamOpen) {
      activeDownstream.dec({ model });
      objectiveRunning.dec({ model_name: model });
      this.recordObjective(model, d.upstreamModel, status, error, seconds, outputTokens, now);
    }
    this.accessLog?.write(this.record(status, error, outputTokens, now));
  }

  /** GIE's series, for requests whose model a route (or the pool) knows. */
  private recordObjective(model: string, target: string, status: number, error: AccessRecord['error'], seconds: number, out: number | undefined, now: number): void {
    const labels = { model_name: model, target_model_name: target };
    objectiveRequests.inc(labels);
    objectiveRequestSizes.observe(labels, this.requestBytes);
    if (error || status >= 400) {
      objectiveErrors.inc({ ...labels, error_code: error?.type ?? String(status) });
      return;
    }
    objectiveDuration.observe(labels, seconds);
    if (this.responseBytes > 0) objectiveResponseSizes.observe(labels, this.responseBytes);
    if (this.inputTokens > 0) objectiveInputTokens.observe(labels, this.inputTokens);
    if (out) {
      objectiveOutputTokens.observe(labels, out);
      objectiveNtpot.observe(labels, seconds / out);
    }
    if (this.firstTokenAt !== undefined) {
      objectiveTtft.observe(labels, (this.firstTokenAt - this.started) / 1000);
      if (out && out > 1) objectiveTpot.observe(labels, (now - this.firstTokenAt) / 1000 / (out - 1));
    }
  }

  private record(status: number, error: AccessRecord['error'], outputTokens: number | undefined, now: number): AccessRecord {
    const d = this.destination;
    const p = this.principal;
    const r: AccessRecord = {
      timestamp: this.timestamp,
      method: this.req.method,
      path: this.req.path.split('?')[0]!,
      frontend: this.req.frontend,
      status_code: status,
      ...(error && { error }),
      request_id: this.requestId,
      model_name: this.clientModel,
      ...(d.backendType !== 'none' && {
        model_route: d.modelRoute === 'none' ? undefined : d.modelRoute,
        model_server: d.backendType === 'model_server' ? d.backendName : undefined,
        backend_type: d.backendType,
        backend_name: d.backendName,
        upstream_model: d.upstreamModel,
      }),
      selected_pod: this.selectedPod,
      served_pod: this.servedPod !== this.selectedPod ? this.servedPod : undefined,
      // The principal's names only: credentials never reach this object.
      ...(p && p.method !== 'anonymous' && { user: p.user, tenant: p.tenant, auth_method: p.method }),
      input_tokens: this.inputTokens || undefined,
      output_tokens: outputTokens || undefined,
      duration_first_token: this.firstTokenAt !== undefined ? Math.round(this.firstTokenAt - this.started) : undefined,
      duration_total: Math.round(now - this.started),
    };
    return r;
  }

  /** Kthena's error categories (README "Access log"), from the refusal's status and code. */
  private errorType(status: number, code: string | undefined): string {
    if (status === 429) {
      if (code === 'saturated') return 'scheduling';
      if (this.limitType === 'input_tokens') return 'input_rate_limit';
      if (this.limitType === 'output_tokens') return 'output_rate_limit';
      return 'rate_limit';
    }
    if (code === 'rate_limit_unavailable') return 'rate_limit';
    if (code === 'no_ready_endpoint') return 'pod_discovery';
    if (status === 400 || status === 413) return 'request_parsing';
    if (status === 401) return 'authentication';
    if (status === 403) return 'authorization';
    if (status === 404) return 'route_not_found';
    if (status === 502) return 'proxy';
    if (status === 504) return 'timeout';
    if (status === 503) return 'unavailable';
    return status >= 500 ? 'internal' : 'request_parsing';
  }
}
