import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Decision, HeaderMapLike, Outcome, RouteDecision, UpstreamPolicy } from '../../core/types.js';
import type { ApiError } from '../../openai/errors.js';
import type { Logger } from '../../observability/logger.js';
import { downstreamHeaders, upstreamHeaders, type ForwardedFor } from './headers.js';
import { proxyFallbacks, proxyLocalReplies, proxyRetries } from './metrics.js';
import { errorCode, isConnectError, retryAfterMs, RetryPlan } from './retry.js';
import { sendError } from './errors.js';
import { upstreamTarget } from './upstream-target.js';

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
}

export type DispatcherFor = (upstream: UpstreamPolicy) => Dispatcher;

type Fallback = () => Promise<Decision>;

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
    const plan = new RetryPlan(d.upstream, d.endpoints.length);
    this.abort = new AbortController();
    this.timedOut = false;
    if (d.upstream.timeoutMs > 0) this.timer = setTimeout(this.onTimeout, d.upstream.timeoutMs);
    if (d.endpoints.length === 0) {
      this.fail({ status: 502, code: 'no_upstream', message: 'the routing decision named no endpoint' });
      return undefined;
    }
    const body = d.body ?? this.input.body;
    const headers = upstreamHeaders(this.input.clientHeaders, d, body.length, this.input.forwarded);
    for (let attempt = 0; ; attempt++) {
      const address = d.endpoints[plan.endpointIndex(attempt)]!;
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send(d, address, headers, body);
      } catch (err) {
        if (this.closed) return undefined;
        d.exchange.attemptFailed?.(address);
        if (!this.timedOut && plan.retryAfterError(err, attempt)) {
          proxyRetries.inc({ reason: isConnectError(err) ? 'connect_error' : 'upstream_error' });
          this.log.debug({ requestId: d.exchange.requestId, endpoint: address, code: errorCode(err) }, 'retrying');
          if (await this.pause(plan.delayMs(attempt))) continue;
          return this.exhausted(d);
        }
        if (!this.timedOut) {
          this.log.warn({ requestId: d.exchange.requestId, endpoint: address, code: errorCode(err), err: String(err) }, 'upstream failed');
        }
        // Pod addresses stay in the log; the client learns only what kind of failure it was.
        return this.exhausted(d, errorCode(err));
      }
      if (this.closed || this.timedOut) {
        response.body.destroy();
        return this.closed ? undefined : this.exhausted(d);
      }
      const status = response.statusCode;
      if (plan.retryAfterStatus(status, attempt)) {
        d.exchange.attemptFailed?.(address);
        proxyRetries.inc({ reason: status === 429 ? 'status_429' : 'status_5xx' });
        response.body.dump().catch(() => undefined);
        if (await this.pause(plan.delayMs(attempt, retryAfterMs(response.headers['retry-after'])))) continue;
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
  }

  /** No attempt left on this decision: its fallback if any, else the client's error (504 after the timeout). */
  private exhausted(d: RouteDecision, code?: string): Fallback | undefined {
    if (this.closed) return undefined;
    if (d.fallback) return d.fallback;
    if (this.timedOut) {
      this.fail({ status: 504, code: 'upstream_timeout', message: `upstream did not answer within ${d.upstream.timeoutMs} ms` });
    } else {
      this.fail({ status: 502, code: 'upstream_unavailable', message: `the model server could not be reached (${code ?? 'error'})` });
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

  private send(d: RouteDecision, address: string, headers: Record<string, string>, body: Buffer): Promise<Dispatcher.ResponseData> {
    const target = upstreamTarget(d.upstream, address, d.setHeaders[':path'] ?? this.input.path);
    return this.dispatcherFor(d.upstream).request({
      origin: target.origin,
      path: target.path,
      method: this.input.method as Dispatcher.HttpMethod,
      headers,
      body: body.length > 0 ? body : undefined,
      signal: this.abort.signal,
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
    const { exchange } = this.decision;
    const { res } = this;
    const body = response.body;
    this.upstreamBody = body;
    const headers = downstreamHeaders(response.headers);
    exchange.responseHeaders(response.statusCode, headers.map);
    res.writeHead(response.statusCode, headers.client);
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
    body.on('end', () => {
      if (this.closed) return;
      const tail = exchange.responseBody(EMPTY, true);
      this.close('success');
      const last = held ? (tail.length > 0 ? Buffer.concat([held, tail]) : held) : tail;
      res.end(last.length > 0 ? last : undefined);
    });
    body.on('error', (err) => {
      if (this.closed) return;
      this.log.warn({ requestId: exchange.requestId, code: errorCode(err) }, 'upstream stream broke');
      this.close('error');
      res.destroy();
    });
  }

  private readonly onClientClose = (): void => {
    if (this.closed) return;
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
  }
}
