import { randomUUID } from 'node:crypto';
import { status as GrpcStatus } from '@grpc/grpc-js';
import type {
  Decision,
  Exchange,
  HeaderMapLike,
  InboundRequest,
  Outcome,
  Pipeline,
  RouteDecision,
} from '../../core/types.js';
import type { Logger } from '../../observability/logger.js';
import type { BodyBudget } from '../body-budget.js';
import { IdleTimer } from '../idle-timer.js';
import { startRequestTrace, type RequestTrace } from '../../observability/tracing/request-trace.js';
import { BodyBuffer } from './body-buffer.js';
import { CONFORMANCE_SERVED_HEADER, servedEndpointReport } from './conformance.js';
import { withDeadline } from './deadline.js';
import { JSON_CONTENT_TYPE, openAiErrorBody } from './errors.js';
import { destinationMetadata, destinationValue, readServedEndpoint, readSubsetHint } from './gateway-protocol.js';
import { fromHeaderMap, overwriteHeader } from './header-map.js';
import { extProcImmediateResponses, extProcStreamFailures } from './metrics.js';
import {
  bodyReply,
  contentLengthMutation,
  headersReply,
  immediateReply,
  responseHeadersMutation,
  streamedBodyReplies,
  trailersReply,
} from './responses.js';
import { routeHeaderMutation } from './route-mutation.js';
import {
  BodySendMode,
  type CommonResponse,
  type HttpBody,
  type HttpHeaders,
  type ProcessingRequest,
  type ProcessingResponse,
  type ProtocolConfiguration,
  type Struct,
} from './wire.js';

/** Where a stream's replies go: the gRPC call, behind an interface so the state machine has no transport. */
export interface ReplySink {
  send(message: ProcessingResponse): void;
  /** Ends the stream with status OK (Envoy then continues without the processor). */
  close(): void;
  /** Ends the stream with an error status (Envoy answers 500 unless it fails open). */
  fail(code: GrpcStatus, details: string): void;
}

export interface StreamOptions {
  pipeline: Pipeline;
  maxBodyBytes: number;
  /** Decision deadline where Envoy runs no message timer (FULL_DUPLEX_STREAMED). */
  decisionTimeoutMs: number;
  /** Envoy's message_timeout; decisions in the other modes must beat it. */
  messageTimeoutMs: number;
  /** Gateway API conformance hooks: report the served endpoint in `x-conformance-test-served-endpoint`. */
  testMode?: boolean;
  /** Longest gap between messages while the request is received; the stream then ends with DEADLINE_EXCEEDED. */
  requestIdleTimeoutMs: number;
  /** The same once the request is routed, while Envoy relays the response (generations can be slow). */
  responseIdleTimeoutMs: number;
  /** Shared ceiling on buffered request bodies; a body that would cross it is answered 503. */
  bodyBudget: BodyBudget;
  logger: Logger;
}

const EMPTY = Buffer.alloc(0);

type RequestPhase = 'headers' | 'body' | 'deciding' | 'decided';

/**
 * One ext_proc stream = one HTTP request through Envoy. Turns the request phases into a single
 * `pipeline.handle` call, the decision into replies shaped for the announced body mode, and the response
 * phases into `Exchange` calls; `finish` runs exactly once whatever happens to the stream.
 *
 * Body modes (announced in the first message's protocol_config; BUFFERED when absent):
 * - BUFFERED / BUFFERED_PARTIAL: the headers are answered at once (Envoy waits for that before sending the
 *   body); destination, metadata and a replaced body go on the body reply.
 * - FULL_DUPLEX_STREAMED: the headers reply is held until the body is complete, then sent with the
 *   destination, followed by the body re-emitted as streamed_response chunks.
 * - STREAMED: Envoy forwards the headers upstream as soon as they are answered and ignores header changes
 *   on body replies, so routing on the body needs the headers reply held. With
 *   send_body_without_waiting_for_header_response the reply is held as in full duplex and every chunk is
 *   answered after it. Without it the headers are answered at once with a mode_override to BUFFERED (which
 *   Envoy honours under allow_mode_override) and non-final chunks pass through unchanged, since each must
 *   be answered within the message timeout.
 */
export class ProcessStream {
  private configured = false;
  private requestMode: number = BodySendMode.BUFFERED;
  private responseMode: number = BodySendMode.BUFFERED;
  private bodyWithoutWaiting = false;
  private observability = false;

  private phase: RequestPhase = 'headers';
  private method = 'GET';
  private path = '/';
  private headers: HeaderMapLike = new Map();
  private generatedRequestId: string | undefined;
  private subset: string[] | undefined;
  private readonly body: BodyBuffer;
  private bodyExpected = false;
  private headersAnswered = false;
  /** STREAMED: body messages whose reply is still owed. */
  private unansweredChunks = 0;
  /** STREAMED: some chunk already went upstream unchanged, so the body can no longer be replaced. */
  private passedThrough = false;
  private trailersEndBody = false;
  private requestTrailersOwed = false;

  private trace: RequestTrace | undefined;
  private exchange: Exchange | undefined;
  private exchangeFinished = false;
  /** Headers the decision adds to the client's response (the rate-limit state). */
  private responseHeadersToAdd: Record<string, string> | undefined;
  private servedReported = false;
  private responseStatus = 0;
  private responseStarted = false;
  private responseComplete = false;

  private halfClosed = false;
  private closed = false;
  private readonly idle = new IdleTimer((ms) => this.expire(ms));
  /** Aborts the decision's work (token counting) when its deadline passes or the stream ends first. */
  private deciding: AbortController | undefined;

  constructor(
    private readonly sink: ReplySink,
    private readonly opts: StreamOptions,
  ) {
    this.body = new BodyBuffer(opts.maxBodyBytes, opts.bodyBudget.account());
    this.rearmIdle();
  }

  onMessage(msg: ProcessingRequest): void {
    if (this.closed) return;
    this.dispatch(msg);
    this.rearmIdle();
  }

  private dispatch(msg: ProcessingRequest): void {
    if (!this.configured) {
      this.configured = true;
      if (!this.configure(msg.protocol_config)) return;
    }
    this.observability = msg.observability_mode === true;
    switch (msg.request) {
      case 'request_headers':
        return this.onRequestHeaders(msg.request_headers ?? {}, msg);
      case 'request_body':
        return this.onRequestBody(msg.request_body ?? {});
      case 'request_trailers':
        return this.onRequestTrailers();
      case 'response_headers':
        return this.onResponseHeaders(msg.response_headers ?? {}, msg);
      case 'response_body':
        return this.onResponseBody(msg.response_body ?? {}, msg);
      case 'response_trailers':
        return this.onResponseTrailers(msg);
      default:
        return this.fail(GrpcStatus.INVALID_ARGUMENT, 'ProcessingRequest carries no request phase', 'protocol');
    }
  }

  /** Envoy half-closed its side: nothing more will arrive. */
  onHalfClose(): void {
    this.halfClosed = true;
    this.maybeClose();
  }

  /**
   * Envoy reset the stream, or the transport failed. Envoy resets every ext_proc stream when it is done with it
   * (END_STREAM, then RST_STREAM at once), so a reset is a failure only when it cut the exchange short: before
   * the decision was sent, or while the response was still passing through. A reset after the route and before
   * any response phase is how Envoy ends a stream without response processing, and an upstream that fails
   * before answering is Envoy's to report.
   */
  onCancel(): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseHeld();
    const cut = this.phase !== 'decided' || (this.responseStarted && !this.responseComplete);
    if (cut) extProcStreamFailures.inc({ reason: 'cancelled' });
    this.finishExchange('cancelled');
    this.trace?.end('cancelled');
  }

  /** A failure of our own while handling a message: end the stream rather than the process. */
  onInternalError(err: unknown): void {
    this.opts.logger.error({ err: errorMessage(err) }, 'ext_proc stream failed');
    this.fail(GrpcStatus.INTERNAL, 'internal error in the external processor', 'internal');
  }

  private configure(config: ProtocolConfiguration | null | undefined): boolean {
    if (!config) return true;
    this.requestMode = config.request_body_mode ?? BodySendMode.NONE;
    this.responseMode = config.response_body_mode ?? BodySendMode.NONE;
    this.bodyWithoutWaiting = config.send_body_without_waiting_for_header_response === true;
    if (this.requestMode === BodySendMode.GRPC || this.responseMode === BodySendMode.GRPC) {
      this.fail(GrpcStatus.UNIMPLEMENTED, 'the GRPC body send mode is not supported', 'protocol');
      return false;
    }
    return true;
  }

  // ---- request path ----

  private onRequestHeaders(h: HttpHeaders, msg: ProcessingRequest): void {
    if (this.phase !== 'headers') {
      return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_headers received twice', 'protocol');
    }
    const all = fromHeaderMap(h.headers);
    this.method = all.get(':method') ?? 'GET';
    this.path = all.get(':path') ?? '/';
    this.headers = regularHeaders(all);
    if (!this.headers.get('x-request-id')) {
      this.generatedRequestId = randomUUID();
      this.headers.set('x-request-id', this.generatedRequestId);
    }
    this.subset = readSubsetHint(msg.metadata_context);
    this.trace = startRequestTrace('extproc', this.method, this.path, this.headers);
    this.bodyExpected = h.end_of_stream !== true && this.requestMode !== BodySendMode.NONE;
    if (!this.bodyExpected) return this.startDecision();

    this.phase = 'body';
    if (this.holdsHeadersReply()) return;
    this.headersAnswered = true;
    const override =
      this.requestMode === BodySendMode.STREAMED
        ? { mode_override: { request_body_mode: BodySendMode.BUFFERED, response_body_mode: this.responseMode } }
        : {};
    this.send(headersReply('request_headers', { clear_route_cache: true }, override));
  }

  private holdsHeadersReply(): boolean {
    return (
      this.requestMode === BodySendMode.FULL_DUPLEX_STREAMED ||
      (this.requestMode === BodySendMode.STREAMED && this.bodyWithoutWaiting)
    );
  }

  private onRequestBody(b: HttpBody): void {
    if (this.phase === 'headers') {
      return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_body before request_headers', 'protocol');
    }
    if (this.phase !== 'body') return; // after end of stream: ignored
    const appended = this.body.append(b.body ?? EMPTY);
    if (appended === 'too_large') return this.rejectOversized();
    if (appended === 'over_budget') return this.rejectOverBudget();
    const whole = this.requestMode === BodySendMode.BUFFERED || this.requestMode === BodySendMode.BUFFERED_PARTIAL;
    const complete = whole || b.end_of_stream === true;
    if (this.requestMode === BodySendMode.STREAMED) {
      if (!complete && this.headersAnswered) {
        this.passedThrough = true;
        this.send(bodyReply('request_body'));
      } else {
        this.unansweredChunks++;
      }
    }
    if (complete) this.startDecision();
  }

  private onRequestTrailers(): void {
    if (this.phase === 'headers') {
      return this.fail(GrpcStatus.INVALID_ARGUMENT, 'request_trailers before request_headers', 'protocol');
    }
    this.requestTrailersOwed = true;
    if (this.phase === 'body') {
      this.trailersEndBody = true;
      this.startDecision();
    } else if (this.phase === 'decided') {
      this.flushRequestTrailers();
    }
  }

  private startDecision(): void {
    this.phase = 'deciding';
    void this.decide();
  }

  private async decide(): Promise<void> {
    this.deciding = new AbortController();
    const request: InboundRequest = {
      method: this.method,
      path: this.path,
      headers: this.headers,
      body: this.body.toBuffer(),
      frontend: 'extproc',
      signal: this.deciding.signal,
      ...(this.subset !== undefined && { subset: this.subset }),
      ...(this.trace && { trace: this.trace }),
    };
    const timed = this.requestMode !== BodySendMode.FULL_DUPLEX_STREAMED;
    const budgetMs = timed ? Math.max(1, Math.floor(this.opts.messageTimeoutMs * 0.9)) : this.opts.decisionTimeoutMs;
    let decision: Decision;
    try {
      const result = await withDeadline(this.invokePipeline(request), budgetMs, (late) => releaseLate(late));
      if (result.ok) {
        decision = result.value;
      } else {
        this.deciding.abort();
        extProcStreamFailures.inc({ reason: 'timeout' });
        this.opts.logger.warn({ requestId: this.requestId(), budgetMs }, 'routing decision timed out');
        decision = frontDoorReject(504, `routing decision timed out after ${budgetMs} ms`, 'timeout_error', 'decision_timeout');
      }
    } catch (err) {
      extProcStreamFailures.inc({ reason: 'pipeline_error' });
      this.opts.logger.error({ requestId: this.requestId(), err: errorMessage(err) }, 'routing pipeline failed');
      decision = frontDoorReject(500, 'internal error while routing the request', 'server_error', 'internal_error');
    }
    this.deciding = undefined;
    if (this.closed) {
      if (decision.kind === 'route') releaseLate(decision);
      return;
    }
    if (decision.kind === 'reject') {
      return this.reject(decision.status, decision.headers, decision.body, 'kthena_router_rejected');
    }
    this.route(decision);
    // The pick is on its way to Envoy, which sends the request upstream: from here on its tokens stay charged.
    this.hook((x) => x.dispatched?.());
    this.body.clear();
    this.phase = 'decided';
    this.rearmIdle();
    if (this.requestTrailersOwed) this.flushRequestTrailers();
    this.maybeClose();
  }

  private invokePipeline(request: InboundRequest): Promise<Decision> {
    return Promise.resolve().then(() => this.opts.pipeline.handle(request));
  }

  private route(decision: RouteDecision): void {
    if (decision.endpoints.length === 0) {
      safeFinish(decision.exchange, 'error', this.opts.logger);
      const body = openAiErrorBody('no endpoint available for the request', 'server_error', 'no_endpoint');
      return this.reject(503, JSON_CONTENT_TYPE, body, 'kthena_router_no_endpoint');
    }
    this.exchange = decision.exchange;
    this.responseHeadersToAdd = decision.clientHeaders;
    // The engine continues the trace from the upstream span, carried in the header mutation.
    this.trace?.upstream(decision.endpoints[0]!, decision.setHeaders);
    const destination = destinationValue(decision.endpoints);
    const replaced = this.bodyExpected ? decision.body : undefined;
    const routing: CommonResponse = {
      header_mutation: routeHeaderMutation({
        decision,
        destination,
        clientHeaders: this.headers,
        ...(this.generatedRequestId !== undefined && { generatedRequestId: this.generatedRequestId }),
        ...(replaced !== undefined && { replacedBodyLength: replaced.length }),
      }),
      clear_route_cache: true,
    };
    const metadata = destinationMetadata(destination);

    if (!this.bodyExpected) {
      return this.send(headersReply('request_headers', routing, { dynamic_metadata: metadata }));
    }
    switch (this.requestMode) {
      case BodySendMode.FULL_DUPLEX_STREAMED:
        this.send(headersReply('request_headers', routing, { dynamic_metadata: metadata }));
        for (const reply of streamedBodyReplies('request_body', replaced ?? this.body.toBuffer(), !this.trailersEndBody)) {
          this.send(reply);
        }
        return;
      case BodySendMode.STREAMED:
        return this.routeStreamed(routing, metadata, replaced);
      default:
        this.send(
          bodyReply(
            'request_body',
            { ...routing, ...(replaced !== undefined && { body_mutation: { body: replaced } }) },
            { dynamic_metadata: metadata },
          ),
        );
    }
  }

  /** STREAMED: answer every owed chunk in order; the last one carries the whole (possibly new) body. */
  private routeStreamed(routing: CommonResponse, metadata: Struct, replaced: Buffer | undefined): void {
    const onHeaders = !this.headersAnswered;
    if (onHeaders) {
      this.headersAnswered = true;
      this.send(headersReply('request_headers', routing, { dynamic_metadata: metadata }));
    }
    const owed = this.unansweredChunks;
    this.unansweredChunks = 0;
    if (owed === 0) return;
    const last: CommonResponse = onHeaders ? {} : routing;
    const extra = onHeaders ? {} : { dynamic_metadata: metadata };
    const keepChunks = this.passedThrough || (owed === 1 && replaced === undefined);
    if (this.passedThrough && replaced !== undefined) {
      this.opts.logger.warn({ requestId: this.requestId() }, 'STREAMED body already forwarded: body rewrite dropped');
    }
    for (let i = 0; i < owed - 1; i++) {
      this.send(bodyReply('request_body', keepChunks ? {} : { body_mutation: { clear_body: true } }));
    }
    const body = keepChunks ? {} : { body_mutation: { body: replaced ?? this.body.toBuffer() } };
    this.send(bodyReply('request_body', { ...last, ...body }, extra));
  }

  private flushRequestTrailers(): void {
    this.requestTrailersOwed = false;
    this.send(trailersReply('request_trailers'));
  }

  private rejectOversized(): void {
    const body = openAiErrorBody(
      `request body exceeds the limit of ${this.opts.maxBodyBytes} bytes`,
      'invalid_request_error',
      'request_too_large',
    );
    this.reject(413, JSON_CONTENT_TYPE, body, 'kthena_router_body_too_large');
  }

  /**
   * The shared body budget is spent: 503 (not 413: this request is fine, the router is full) as a local reply, so
   * the client gets a retryable OpenAI error. RESOURCE_EXHAUSTED would surface as Envoy's bare 500, or with
   * fail-open as a request forwarded with no pick.
   */
  private rejectOverBudget(): void {
    extProcStreamFailures.inc({ reason: 'body_budget' });
    const body = openAiErrorBody(
      'the router is holding too many request bodies; retry shortly',
      'server_error',
      'body_budget_exhausted',
    );
    this.reject(503, { ...JSON_CONTENT_TYPE, 'retry-after': '1' }, body, 'kthena_router_body_budget');
  }

  /** A local reply; Envoy stops consulting us after it, so the stream ends too. */
  private reject(status: number, headers: Record<string, string>, body: Buffer, details: string): void {
    extProcImmediateResponses.inc({ status: String(status) });
    this.trace?.respond(status);
    this.send(immediateReply(status, headers, body, details));
    this.endStream('cancelled');
  }

  // ---- response path ----

  private onResponseHeaders(h: HttpHeaders, msg: ProcessingRequest): void {
    this.noteServed(msg);
    const all = fromHeaderMap(h.headers);
    this.responseStatus = Number.parseInt(all.get(':status') ?? '', 10) || 0;
    this.responseStarted = true;
    this.trace?.respond(this.responseStatus);
    const change = this.hook((x) => x.responseHeaders(this.responseStatus, regularHeaders(all)));
    // Envoy will not show us the body: a replacement known now goes out as a local reply.
    if (change?.body && (this.responseMode === BodySendMode.NONE || h.end_of_stream === true)) {
      this.completeResponse();
      return this.reject(change.status ?? this.responseStatus, change.setHeaders ?? {}, change.body, 'kthena_router_response_replaced');
    }
    const extra = Object.entries(this.responseHeadersToAdd ?? {}).map(([k, v]) => overwriteHeader(k, v));
    // Test mode only: the header names pod addresses.
    if (this.opts.testMode) extra.push(overwriteHeader(CONFORMANCE_SERVED_HEADER, servedEndpointReport(msg.metadata_context)));
    const mutation = responseHeadersMutation(change, extra);
    this.send(headersReply('response_headers', mutation ? { header_mutation: mutation } : {}));
    if (h.end_of_stream === true) this.completeResponse();
  }

  private onResponseBody(b: HttpBody, msg: ProcessingRequest): void {
    this.noteServed(msg);
    if (this.responseComplete) return;
    const chunk = b.body ?? EMPTY;
    const eos = b.end_of_stream === true;
    const out = this.forwardResponse(chunk, eos);
    if (this.responseMode === BodySendMode.FULL_DUPLEX_STREAMED) {
      for (const reply of streamedBodyReplies('response_body', out, eos)) this.send(reply);
    } else if (out === chunk || out.equals(chunk)) {
      this.send(bodyReply('response_body'));
    } else if (this.responseMode === BodySendMode.STREAMED) {
      this.send(bodyReply('response_body', { body_mutation: { body: out } }));
    } else {
      // A whole buffered body: Envoy checks content-length against the replacement.
      this.send(bodyReply('response_body', { header_mutation: contentLengthMutation(out.length), body_mutation: { body: out } }));
    }
    if (eos) this.completeResponse();
  }

  private onResponseTrailers(msg: ProcessingRequest): void {
    this.noteServed(msg);
    if (!this.responseComplete) {
      const tail = this.forwardResponse(EMPTY, true);
      if (tail.length > 0 && this.responseMode === BodySendMode.FULL_DUPLEX_STREAMED) {
        for (const reply of streamedBodyReplies('response_body', tail, false)) this.send(reply);
      }
    }
    this.send(trailersReply('response_trailers'));
    this.completeResponse();
  }

  private forwardResponse(chunk: Buffer, eos: boolean): Buffer {
    const exchange = this.exchange;
    if (!exchange) return chunk;
    try {
      return exchange.responseBody(chunk, eos);
    } catch (err) {
      this.opts.logger.warn({ requestId: exchange.requestId, err: errorMessage(err) }, 'response body hook failed');
      return chunk;
    }
  }

  private noteServed(msg: ProcessingRequest): void {
    if (this.servedReported || !this.exchange) return;
    const served = readServedEndpoint(msg.metadata_context);
    if (served === undefined) return;
    this.servedReported = true;
    this.hook((x) => x.served(served));
  }

  private completeResponse(): void {
    if (this.responseComplete) return;
    this.responseComplete = true;
    this.finishExchange(this.statusOutcome());
    this.trace?.upstreamEnded(this.statusOutcome());
  }

  private statusOutcome(): Outcome {
    return this.responseStatus >= 500 ? 'error' : 'success';
  }

  // ---- stream end ----

  private maybeClose(): void {
    if (this.closed || !this.halfClosed || this.phase === 'deciding') return;
    // Without a response body to wait for, the response headers were the end of the exchange.
    const headersOnly = this.responseStarted && this.responseMode === BodySendMode.NONE;
    this.endStream(headersOnly ? this.statusOutcome() : 'cancelled');
  }

  private endStream(outcome: Outcome): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseHeld();
    this.finishExchange(outcome);
    this.trace?.end(outcome);
    this.sink.close();
  }

  private fail(code: GrpcStatus, details: string, reason: string, outcome: Outcome = 'error'): void {
    if (this.closed) return;
    this.closed = true;
    this.releaseHeld();
    extProcStreamFailures.inc({ reason });
    if (reason === 'protocol') this.opts.logger.warn({ requestId: this.requestId(), details }, 'ext_proc protocol error');
    this.finishExchange(outcome);
    this.trace?.end(outcome);
    this.sink.fail(code, details);
  }

  // ---- idle timeout and held bytes ----

  /** Idle period for the current phase; none while deciding (the decision deadline covers our own work). */
  private rearmIdle(): void {
    if (this.closed) return;
    if (this.phase === 'deciding') return this.idle.stop();
    this.idle.arm(this.phase === 'decided' ? this.opts.responseIdleTimeoutMs : this.opts.requestIdleTimeoutMs);
  }

  /** Envoy went quiet: end the stream, and release the exchange as a cancelled one. */
  private expire(periodMs: number): void {
    if (this.closed) return;
    this.opts.logger.warn({ requestId: this.requestId(), phase: this.phase, periodMs }, 'ext_proc stream idle: ended');
    this.fail(GrpcStatus.DEADLINE_EXCEEDED, `no message on the stream for ${periodMs} ms`, 'idle_timeout', 'cancelled');
  }

  private releaseHeld(): void {
    this.idle.stop();
    this.body.clear();
    this.deciding?.abort();
  }

  private finishExchange(outcome: Outcome): void {
    if (!this.exchange || this.exchangeFinished) return;
    this.exchangeFinished = true;
    safeFinish(this.exchange, outcome, this.opts.logger);
  }

  private hook<T>(fn: (exchange: Exchange) => T): T | undefined {
    if (!this.exchange) return undefined;
    try {
      return fn(this.exchange);
    } catch (err) {
      this.opts.logger.warn({ requestId: this.exchange.requestId, err: errorMessage(err) }, 'exchange hook failed');
      return undefined;
    }
  }

  private send(message: ProcessingResponse): void {
    if (this.closed || this.observability) return;
    this.sink.send(message);
  }

  private requestId(): string | undefined {
    return this.headers.get('x-request-id');
  }
}

/** Regular headers only; `:authority` becomes `host` when the request has none. */
function regularHeaders(all: HeaderMapLike): HeaderMapLike {
  const out: HeaderMapLike = new Map();
  for (const [name, value] of all) if (!name.startsWith(':')) out.set(name, value);
  const authority = all.get(':authority');
  if (authority !== undefined && !out.has('host')) out.set('host', authority);
  return out;
}

function frontDoorReject(
  status: number,
  message: string,
  type: 'server_error' | 'timeout_error',
  code: string,
): Decision {
  return { kind: 'reject', status, headers: { ...JSON_CONTENT_TYPE }, body: openAiErrorBody(message, type, code) };
}

/** A route decided for a stream that is gone: release what it holds. */
function releaseLate(decision: Decision): void {
  if (decision.kind === 'route') {
    try {
      decision.exchange.finish('cancelled');
    } catch {
      // Nothing left to tell: the stream is already over.
    }
  }
}

function safeFinish(exchange: Exchange, outcome: Outcome, logger: Logger): void {
  try {
    exchange.finish(outcome);
  } catch (err) {
    logger.warn({ requestId: exchange.requestId, err: errorMessage(err) }, 'exchange finish failed');
  }
}

/** A short error description for logs (capped: messages such as JSON.parse's quote their input). */
function errorMessage(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return text.length > 200 ? `${text.slice(0, 200)}…` : text;
}
