import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import { UsageReader } from '../openai/usage.js';
import { inflightGauge } from '../observability/metrics.js';
import type { RequestObservation } from '../observability/request-observation.js';
import type { Scheduler } from '../scheduler/scheduler.js';
import type { SchedulingRequest } from '../scheduler/types.js';
import type { Reservation } from './filters.js';
import { ModelNameRewriter } from './model-rewrite.js';
import type { Exchange, HeaderMapLike, Outcome, ResponseHeadersChange } from './types.js';

/** Rewrites a response for the client (protocol adapters of external providers). */
export interface ResponseTransform {
  /** Called with the upstream status and headers before any body chunk; may change what the client gets. */
  start?(status: number, headers: HeaderMapLike): ResponseHeadersChange | void;
  /** The bytes to forward for this chunk; may hold bytes back until a later chunk or the end. */
  body(chunk: Buffer, endOfStream: boolean): Buffer;
}

/** Passive health report for outlier detection: `failed` = no response, 5xx or 429. */
export type HealthReport = (address: string, failed: boolean) => void;

export interface ExchangeInit {
  requestId: string;
  datastore: Datastore;
  scheduler: Scheduler;
  schedulingRequest: SchedulingRequest;
  /** The picked pod; absent for an external provider (no in-flight count, no scheduler callbacks). */
  primary?: Endpoint;
  reservation?: Reservation;
  /** Client-facing model name and the name the engine answers with, when the body was rewritten. */
  modelRewrite?: { client: string; upstream: string };
  /** The flow controller's slot, given back when the request ends. */
  admission?: { done(): void };
  /** Applied to the response before the model rewrite; usage is read from the upstream bytes, before it. */
  transform?: ResponseTransform;
  health?: HealthReport;
  /**
   * Prefill/decode disaggregation: the picked prefill endpoint and the prefill phase's own scheduling request (a
   * distinct object, so that lifecycle plugins track the prefill and the decode phase apart).
   */
  prefill?: { request: SchedulingRequest; endpoint: Endpoint };
  /** Per-request metrics and access log, told how the response went. */
  observation?: RequestObservation;
}

/**
 * Per-request state on the response path: holds the in-flight count on the endpoint that serves the request, reads
 * usage from the response, and settles everything exactly once in `finish`.
 */
export class RequestExchange implements Exchange {
  readonly requestId: string;
  private endpoint: Endpoint | undefined;
  /** The address being tried or served, for health reports. */
  private address: string;
  private readonly usage = new UsageReader();
  private status = 0;
  private finished = false;
  /** The request left the router for an upstream (see `dispatched`): its tokens are charged, not given back. */
  private sentUpstream = false;
  /** The whole response body went by: usage not seen by then was never sent. */
  private bodyEnded = false;
  private readonly rewriter?: ModelNameRewriter;
  /** The prefill endpoint the scheduler's lifecycle hooks know for this request. */
  private prefillEndpoint: Endpoint | undefined;
  /** The endpoint of the prefill request in flight, whose in-flight count this exchange holds. */
  private prefillInFlight: Endpoint | undefined;
  private prefillCompleted = false;
  private localError?: { status: number; code: string };

  constructor(private readonly init: ExchangeInit) {
    this.requestId = init.requestId;
    this.prefillEndpoint = init.prefill?.endpoint;
    this.endpoint = init.primary;
    this.address = init.primary?.address ?? '';
    if (init.primary) acquire(init.primary);
    const group = init.schedulingRequest.group;
    init.observation?.selected(init.primary?.podName);
    init.observation?.upstreamStarted(group.startsWith('server:') ? group.slice('server:'.length) : 'none');
    if (init.modelRewrite) this.rewriter = new ModelNameRewriter(init.modelRewrite.upstream, init.modelRewrite.client);
  }

  dispatched(): void {
    if (!this.finished) this.sentUpstream = true;
  }

  served(address: string): void {
    if (this.finished || this.address === address) return;
    this.address = address;
    const ep = this.init.datastore.endpoint(address);
    if (this.endpoint) release(this.endpoint);
    this.endpoint = ep;
    if (ep) {
      acquire(ep);
      this.init.scheduler.served(this.init.schedulingRequest, ep);
    }
    this.init.observation?.served(ep?.podName ?? address);
  }

  responseHeaders(status: number, headers: HeaderMapLike): ResponseHeadersChange | void {
    this.status = status;
    this.usage.setContentType(headers.get('content-type'));
    return this.init.transform?.start?.(status, headers);
  }

  responseBody(chunk: Buffer, endOfStream: boolean): Buffer {
    if (this.finished) return chunk;
    if (endOfStream) this.bodyEnded = true;
    this.usage.push(chunk, endOfStream);
    this.init.observation?.responseChunk(chunk.length);
    const out = this.init.transform ? this.init.transform.body(chunk, endOfStream) : chunk;
    return this.rewriter ? this.rewriter.push(out, endOfStream) : out;
  }

  attemptFailed(address: string): void {
    if (!this.finished) this.init.health?.(address, true);
  }

  prefillStarted(address: string): void {
    const prefill = this.init.prefill;
    if (!prefill || this.finished) return;
    if (this.prefillInFlight) release(this.prefillInFlight);
    this.init.observation?.prefillStarted();
    const ep = this.init.datastore.endpoint(address);
    this.prefillInFlight = ep;
    if (!ep) return;
    acquire(ep);
    if (ep.address !== this.prefillEndpoint?.address) {
      this.prefillEndpoint = ep;
      this.init.scheduler.served(prefill.request, ep);
    }
  }

  prefillEnded(address: string, status: number, outcome: Outcome): void {
    const prefill = this.init.prefill;
    if (!prefill) return;
    if (this.prefillInFlight?.address === address) {
      release(this.prefillInFlight);
      this.prefillInFlight = undefined;
    }
    if (outcome !== 'cancelled') {
      this.init.health?.(address, status === 0 ? outcome === 'error' : status >= 500 || status === 429);
    }
    // A failed prefill may be followed by another on the next pair; the phase completes once, when one succeeds or
    // when the request ends.
    if (outcome === 'success' && status < 400 && !this.prefillCompleted && !this.finished) {
      this.init.observation?.prefillEnded();
      this.prefillCompleted = true;
      this.init.scheduler.completed(prefill.request, this.prefillEndpoint, 'success');
    }
  }

  localReply(status: number, code: string): void {
    if (!this.finished) this.localError = { status, code };
  }

  finish(outcome: Outcome): void {
    if (this.finished) return;
    this.finished = true;
    const effective: Outcome = outcome === 'success' && this.status >= 400 ? 'error' : outcome;
    if (this.endpoint) release(this.endpoint);
    if (this.prefillInFlight) release(this.prefillInFlight);
    this.prefillInFlight = undefined;
    this.init.admission?.done();
    // Only a request that never left the router gets its tokens back: cancelling after the pick must not dodge a limit.
    if (this.init.reservation) {
      if (this.sentUpstream) this.init.reservation.commit(this.outputCharge());
      else this.init.reservation.release();
    }
    this.init.observation?.exchangeEnded(this.status, effective, this.usage.sawOutput() ? this.usage.outputTokens() : undefined, this.localError);
    // Without a response the front door already reported each failed attempt; a cancelled request says nothing.
    if (this.status > 0 && outcome !== 'cancelled') {
      const failed = this.status >= 500 || this.status === 429 || (outcome === 'error' && this.status < 400);
      this.init.health?.(this.address, failed);
    }
    if (this.init.primary) this.init.scheduler.completed(this.init.schedulingRequest, this.endpoint, effective);
    if (this.init.prefill && !this.prefillCompleted) {
      this.prefillCompleted = true;
      this.init.scheduler.completed(this.init.prefill.request, this.prefillEndpoint, effective);
    }
  }

  /**
   * Output tokens to charge: what the response reported or streamed so far; none for a complete body or an error
   * status that reported nothing; otherwise (cut off before any output was seen, or a gateway that never shows us the
   * response) undefined: the reserved `max_tokens` share stays charged.
   */
  private outputCharge(): number | undefined {
    if (this.usage.sawOutput()) return this.usage.outputTokens();
    if (this.bodyEnded || this.status >= 400) return 0;
    return undefined;
  }
}

function acquire(ep: Endpoint): void {
  ep.inflight++;
  inflightGauge.set({ endpoint: ep.address }, ep.inflight);
}

function release(ep: Endpoint): void {
  ep.inflight = Math.max(0, ep.inflight - 1);
  inflightGauge.set({ endpoint: ep.address }, ep.inflight);
}
