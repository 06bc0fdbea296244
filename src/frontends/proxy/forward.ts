import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Decision, HeaderMapLike, Outcome, PrefillDecodePlan, RouteDecision, UpstreamPolicy } from '../../core/types.js';
import type { ApiError } from '../../openai/errors.js';
import type { Logger } from '../../observability/logger.js';
import type { RequestTrace } from '../../observability/tracing/request-trace.js';
import { applyHeadersChange, downstreamHeaders, upstreamHeaders, type ForwardedFor } from './headers.js';
import { proxyFallbacks, proxyLocalReplies, proxyRetries } from './metrics.js';
import { errorCode, isConnectError, retryAfterMs, RetryPlan } from './retry.js';
import { sendError } from './errors.js';
import { upstreamTarget } from './upstream-target.js';
import { PairPlan } from './pair-plan.js';
import { AttemptDeadline, untilFirstByte } from './attempt-deadline.js';
import { discard, runPair, type Phase } from './prefill-decode.js';

const EMPTY = Buffer.alloc(0);

export interface ForwardInput {
  method: string;
  path: string;
  /** The client's headers; each decision's upstream headers are made from them. */
  clientHeaders: HeaderMapLike;
  forwarded: ForwardedFor;
  /** The client's body; a decision may replace it. */
  body: Buffer;
  decision: RouteDecision;
  /** The request's trace when tracing is on: each upstream request gets a span and its `traceparent`. */
  trace?: RequestTrace;
}

export type DispatcherFor = (upstream: UpstreamPolicy) => Dispatcher;

type Fallback = () => Promise<Decision>;

/** Why an attempt got no usable response: an error (no response) or a failed status, and whether to try again. */
interface Failure {
  err?: unknown;
  /** A response status that counts as a failure (a prefill's 5xx or 429); 0 or absent: no response. */
  status?: number;
  retryable: boolean;
  /** The client's error when no attempt is left, in place of the generic 502. */
  error?: ApiError;
  /** The attempt's own deadline expired (a hung endpoint). */
  attemptTimeout?: boolean;
}

function retryReason(f: Failure): string {
  if (f.attemptTimeout) return 'attempt_timeout';
  if (f.status) return f.status === 429 ? 'status_429' : 'status_5xx';
  return isConnectError(f.err) ? 'connect_error' : 'upstream_error';
}

/** Try again on this decision. */
const RETRY = Symbol('retry');
/** After an attempt: try again, fall back to the route's next target, or done (the client has its answer). */
type Next = typeof RETRY | Fallback | undefined;

/**
 * One routed request on its way upstream and back: attempts with failover and backoff, the per-target timeout, the
 * fallback to the next target of the route when every attempt failed before a response, the response streamed
 * through with back-pressure, and cancellation when the client goes away. Each decision's exchange is finished
 * exactly once; once the client is answered (or gone) every late event (upstream error, client close, timer) is
 * ignored.
 */
export class Forwarding {
  private decision: RouteDecision;
  private abort = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private timedOut = false;
  private upstreamBody: Readable | undefined;
  private exchangeFinished = false;
  /** Upstream requests under way (the prefill and decode of one pair may overlap). */
  private sending = 0;
  /** The client has its answer, or is gone. */
  private closed = false;

  constructor(
    private readonly input: ForwardInput,
    private readonly res: ServerResponse,
    private readonly dispatcherFor: DispatcherFor,
    private readonly log: Logger,
  ) {
    this.decision = input.decision;
  }

  async run(): Promise<void> {
    this.res.once('close', this.onClientClose);
    for (;;) {
      const fallback = await this.attempts();
      if (!fallback) return;
      const next = await this.fallBack(fallback);
      if (!next) return;
      this.decision = next;
      this.exchangeFinished = false;
    }
  }

  /** Every attempt on the current decision; returns its fallback when they all failed and one is offered. */
  private async attempts(): Promise<Fallback | undefined> {
    const d = this.decision;
    this.abort = new AbortController();
    this.timedOut = false;
    if (d.upstream.timeoutMs > 0) this.timer = setTimeout(this.onTimeout, d.upstream.timeoutMs);
    if (d.prefillDecode) return this.pairAttempts(d, d.prefillDecode);
    if (d.endpoints.length === 0) {
      this.fail({ status: 502, code: 'no_upstream', message: 'the routing decision named no endpoint' });
      return undefined;
    }
    const plan = new RetryPlan(d.upstream, d.endpoints.length);
    const body = d.body ?? this.input.body;
    const headers = upstreamHeaders(this.input.clientHeaders, d, body.length, this.input.forwarded);
    for (let attempt = 0; ; attempt++) {
      const address = d.endpoints[plan.endpointIndex(attempt)]!;
      const deadline = new AttemptDeadline(this.abort.signal, d.upstream);
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send(d, address, headers, body, deadline.signal);
      } catch (err) {
        deadline.clear();
        const next = await this.failed(d, plan, attempt, address, this.attemptFailure(plan, attempt, deadline, err));
        if (next === RETRY) continue;
        return next;
      }
      deadline.passed('headers');
      // A streamed answer goes to the client only once its first token is in: until then another endpoint can
      // still take over.
      if (deadline.waitsForFirstToken && response.statusCode < 300 && !(await untilFirstByte(response.body, deadline.signal))) {
        discard(response);
        const next = await this.failed(d, plan, attempt, address, this.attemptFailure(plan, attempt, deadline, undefined));
        if (next === RETRY) continue;
        return next;
      }
      deadline.clear();
      const next = await this.answered(d, plan, attempt, address, response);
      if (next !== RETRY) return next;
    }
  }

  /** Why an attempt without a usable response failed: its own deadline, or an upstream error. */
  private attemptFailure(plan: RetryPlan, attempt: number, deadline: AttemptDeadline, err: unknown): Failure {
    const expired = deadline.expired;
    if (!expired || this.timedOut || this.closed) return { err, retryable: plan.retryAfterError(err, attempt) };
    const what = expired.phase === 'headers' ? 'response headers' : 'first token';
    return {
      err,
      attemptTimeout: true,
      retryable: plan.retryAfterAttemptTimeout(attempt),
      error: { status: 504, code: 'upstream_timeout', message: `no ${what} from the model server within ${expired.ms} ms` },
    };
  }

  /**
   * Prefill/decode disaggregation run here (Kthena's convention): each attempt sends the prefill and the decode
   * request of one pair (prefill-decode.ts). A failed prefill (no answer, 5xx, 429) moves on to another pair within
   * the attempts allowed, even without a retry policy: it is the router's own request and nothing reached the client.
   * A decode that failed or answered follows the rules of any attempt. Nothing reaches the client before the decode
   * response does, except a prefill's 4xx, which is the client's answer as is.
   */
  private async pairAttempts(d: RouteDecision, pd: PrefillDecodePlan): Promise<Fallback | undefined> {
    const plan = new RetryPlan(d.upstream, pd.pairs.length);
    const pairs = new PairPlan(pd.pairs);
    const original = d.body ?? this.input.body;
    const signal = this.abort.signal;
    for (let attempt = 0; ; attempt++) {
      const pair = pairs.current;
      const outcome = await runPair({
        pair,
        plan: pd,
        path: this.input.path,
        original,
        send: (address, body, phase, phaseSignal) => this.send(d, address, this.phaseHeaders(d, body, phase), body, phaseSignal),
        signal,
        cancelled: () => this.closed,
        exchange: d.exchange,
        log: this.log,
      });
      let next: Next;
      let failedAddress = pair.decode;
      switch (outcome.kind) {
        case 'decode':
          next = await this.answered(d, plan, attempt, pair.decode, outcome.response);
          break;
        case 'decode_failed':
          next = await this.failed(d, plan, attempt, pair.decode, { err: outcome.err, retryable: plan.retryAfterError(outcome.err, attempt) });
          break;
        case 'prefill_failed': {
          const { err, status } = outcome;
          failedAddress = pair.prefill;
          const why = status > 0 ? `answered ${status}` : `could not be reached (${errorCode(err) ?? 'error'})`;
          next = await this.failed(d, plan, attempt, pair.prefill, {
            err,
            status,
            retryable: plan.retryAfterPrefillFailure(err, attempt),
            error: { status: 502, code: 'prefill_failed', message: `the prefill endpoint ${why}` },
          });
          break;
        }
        case 'prefill_rejected':
          if (this.closed || this.timedOut) {
            discard(outcome.response);
            return this.closed ? undefined : this.exhausted(d);
          }
          this.stream(outcome.response);
          return undefined;
      }
      if (next !== RETRY) return next;
      pairs.advance(failedAddress);
    }
  }

  /** Upstream headers for one phase's body; the prefill answer is parsed here, so it must come uncompressed. */
  private phaseHeaders(d: RouteDecision, body: Buffer, phase: Phase): Record<string, string> {
    const headers = upstreamHeaders(this.input.clientHeaders, d, body.length, this.input.forwarded);
    if (phase === 'prefill') headers['accept-encoding'] = 'identity';
    return headers;
  }

  /** An upstream answered: its response goes to the client, unless its status is retried or the route falls back. */
  private async answered(d: RouteDecision, plan: RetryPlan, attempt: number, address: string, response: Dispatcher.ResponseData): Promise<Next> {
    if (this.closed || this.timedOut) {
      discard(response);
      return this.closed ? undefined : this.exhausted(d);
    }
    const status = response.statusCode;
    if (plan.retryAfterStatus(status, attempt)) {
      d.exchange.attemptFailed?.(address);
      proxyRetries.inc({ reason: status === 429 ? 'status_429' : 'status_5xx' });
      response.body.dump().catch(() => undefined);
      if (await this.pause(plan.delayMs(attempt, retryAfterMs(response.headers['retry-after'])))) return RETRY;
      return this.exhausted(d);
    }
    if (d.fallback && (status >= 500 || status === 429)) {
      d.exchange.attemptFailed?.(address);
      response.body.dump().catch(() => undefined);
      return d.fallback;
    }
    d.exchange.served(address);
    this.stream(response);
    return undefined;
  }

  /**
   * An attempt on `address` got no usable response: another attempt when `retryable` (after the backoff), else the
   * route's fallback or the client's error (`error` in place of the generic 502).
   */
  private async failed(d: RouteDecision, plan: RetryPlan, attempt: number, address: string, f: Failure): Promise<Next> {
    const { err, error } = f;
    if (this.closed) return undefined;
    d.exchange.attemptFailed?.(address);
    if (!this.timedOut && f.retryable) {
      proxyRetries.inc({ reason: retryReason(f) });
      this.log.debug({ requestId: d.exchange.requestId, endpoint: address, code: f.attemptTimeout ? 'attempt_timeout' : errorCode(err) }, 'retrying');
      if (await this.pause(plan.delayMs(attempt))) return RETRY;
      return this.exhausted(d);
    }
    if (!this.timedOut) {
      const why = f.attemptTimeout ? error?.message : String(err ?? error?.message);
      this.log.warn({ requestId: d.exchange.requestId, endpoint: address, code: errorCode(err), err: why }, 'upstream failed');
    }
    // Pod addresses stay in the log; the client learns only what kind of failure it was.
    return this.exhausted(d, errorCode(err), error);
  }

  /** No attempt left on this decision: its fallback if any, else the client's error (504 after the timeout). */
  private exhausted(d: RouteDecision, code?: string, error?: ApiError): Fallback | undefined {
    if (this.closed) return undefined;
    if (d.fallback) return d.fallback;
    if (this.timedOut) {
      this.fail({ status: 504, code: 'upstream_timeout', message: `upstream did not answer within ${d.upstream.timeoutMs} ms` });
    } else {
      this.fail(error ?? { status: 502, code: 'upstream_unavailable', message: `the model server could not be reached (${code ?? 'error'})` });
    }
    return undefined;
  }

  /** Settles the failed decision and asks for the next target's; answers the client itself when there is none. */
  private async fallBack(fallback: Fallback): Promise<RouteDecision | undefined> {
    const failed = this.decision;
    this.finishExchange('error');
    let next: Decision;
    try {
      next = await fallback();
    } catch (err) {
      this.log.error({ requestId: failed.exchange.requestId, err: String(err) }, 'fallback decision failed');
      this.fail({ status: 502, code: 'upstream_unavailable', message: 'the model server could not be reached' });
      return undefined;
    }
    if (this.closed) {
      if (next.kind === 'route') next.exchange.finish('cancelled');
      return undefined;
    }
    if (next.kind === 'reject') {
      proxyFallbacks.inc({ outcome: 'rejected' });
      this.close();
      this.res.writeHead(next.status, { ...next.headers, 'content-length': next.body.length });
      this.res.end(next.body);
      return undefined;
    }
    proxyFallbacks.inc({ outcome: 'routed' });
    this.log.info({ requestId: failed.exchange.requestId, from: failed.endpoints[0], to: next.endpoints[0] }, 'falling back to the next target');
    return next;
  }

  /**
   * One request to an upstream. Once it may have reached the pod (it was answered, or failed other than by a failed
   * connect) the exchange counts it as dispatched, so its tokens stay charged.
   */
  private async send(d: RouteDecision, address: string, headers: Record<string, string>, body: Buffer, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    this.sending++;
    const span = this.input.trace?.attempt(address, headers);
    try {
      const response = await this.request(d, address, headers, body, signal);
      span?.answered(response.statusCode, response.body);
      d.exchange.dispatched?.();
      return response;
    } catch (err) {
      span?.failed(err);
      if (!isConnectError(err)) d.exchange.dispatched?.();
      throw err;
    } finally {
      this.sending--;
    }
  }

  private request(d: RouteDecision, address: string, headers: Record<string, string>, body: Buffer, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    const target = upstreamTarget(d.upstream, address, d.setHeaders[':path'] ?? this.input.path);
    return this.dispatcherFor(d.upstream).request({
      origin: target.origin,
      path: target.path,
      method: this.input.method as Dispatcher.HttpMethod,
      headers,
      body: body.length > 0 ? body : undefined,
      signal,
      // The whole-request timer is ours (the target's timeout); an SSE stream may legitimately idle for long.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Waits before a retry; false when the request was cancelled or timed out meanwhile. */
  private async pause(ms: number): Promise<boolean> {
    if (ms > 0) {
      try {
        await sleep(ms, undefined, { signal: this.abort.signal });
      } catch {
        return false;
      }
    }
    return !this.closed && !this.timedOut;
  }

  private stream(response: Dispatcher.ResponseData): void {
    const { exchange, clientHeaders } = this.decision;
    const { res } = this;
    const body = response.body;
    this.upstreamBody = body;
    const headers = downstreamHeaders(response.headers);
    const change = exchange.responseHeaders(response.statusCode, headers.map);
    if (clientHeaders) Object.assign(headers.client, clientHeaders);
    res.writeHead(change ? applyHeadersChange(change, headers.client, response.statusCode) : response.statusCode, headers.client);
    // An event stream goes out chunk by chunk, its headers at once (the client learns the stream is open before the
    // first token). Any other body is written one chunk behind, so that a one-chunk JSON answer leaves with its
    // headers and the chunked-encoding terminator in a single write.
    const eventStream = headers.map.get('content-type')?.includes('text/event-stream') === true;
    if (eventStream) res.flushHeaders();
    let held: Buffer | undefined;
    res.on('drain', () => body.resume());
    body.on('data', (chunk: Buffer) => {
      if (this.closed) return;
      let out = exchange.responseBody(chunk, false);
      if (!eventStream) {
        const previous = held;
        held = out;
        if (!previous) return;
        out = previous;
      }
      if (out.length > 0 && !res.write(out)) body.pause();
    });
    const onEnd = () => {
      if (this.closed) return;
      const tail = exchange.responseBody(EMPTY, true);
      this.close('success');
      const last = held ? (tail.length > 0 ? Buffer.concat([held, tail]) : held) : tail;
      res.end(last.length > 0 ? last : undefined);
    };
    const onError = (err: unknown) => {
      if (this.closed) return;
      this.log.warn({ requestId: exchange.requestId, code: errorCode(err) }, 'upstream stream broke');
      this.close('error');
      res.destroy();
    };
    // Waiting for the first token left the body paused, or already at its end (an empty body) or failed.
    if (body.errored) return onError(body.errored);
    body.on('error', onError);
    if (body.readableEnded) return onEnd();
    body.on('end', onEnd);
    body.resume();
  }

  private readonly onClientClose = (): void => {
    if (this.closed) return;
    // A client leaving while a request is out must not get its tokens back: the pod is already working on it.
    if (this.sending > 0) this.decision.exchange.dispatched?.();
    this.close('cancelled');
    this.abort.abort();
    this.upstreamBody?.destroy();
  };

  private readonly onTimeout = (): void => {
    if (this.closed) return;
    const d = this.decision;
    this.log.warn({ requestId: d.exchange.requestId, timeoutMs: d.upstream.timeoutMs }, 'upstream timeout');
    this.timedOut = true;
    if (this.res.headersSent) {
      this.close('error');
      this.abort.abort();
      this.upstreamBody?.destroy();
      this.res.destroy();
      return;
    }
    // The attempt loop sees the abort, reports the attempt and gives up on this target (fallback, or 504).
    this.abort.abort();
  };

  private fail(err: ApiError): void {
    this.decision.exchange.localReply?.(err.status, err.code);
    this.close('error');
    proxyLocalReplies.inc({ status: String(err.status) });
    sendError(this.res, err);
  }

  private finishExchange(outcome: Outcome): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.exchangeFinished) return;
    this.exchangeFinished = true;
    this.decision.exchange.finish(outcome);
  }

  /** The client is answered or gone: nothing else happens for this request. */
  private close(outcome: Outcome = 'error'): void {
    this.closed = true;
    this.finishExchange(outcome);
    this.res.off('close', this.onClientClose);
    // Whatever is still out (an sglang prefill answer being drained) is of no use now.
    this.abort.abort();
  }
}
