import type { ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Dispatcher } from 'undici';
import type { Outcome, RouteDecision } from '../../core/types.js';
import type { ApiError } from '../../openai/errors.js';
import type { Logger } from '../../observability/logger.js';
import { downstreamHeaders } from './headers.js';
import { proxyLocalReplies, proxyRetries } from './metrics.js';
import { errorCode, isConnectError, RetryPlan } from './retry.js';
import { sendError } from './errors.js';
import { upstreamTarget } from './upstream-target.js';

const EMPTY = Buffer.alloc(0);

export interface ForwardInput {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: Buffer;
  decision: RouteDecision;
}

/**
 * One routed request on its way upstream and back: attempts with failover, the whole-request timeout, the response
 * streamed through with back-pressure, and cancellation when the client goes away. Settles the exchange exactly
 * once; after that every late event (upstream error, client close, timer) is ignored.
 */
export class Forwarding {
  private readonly abort = new AbortController();
  private readonly plan: RetryPlan;
  private timer: NodeJS.Timeout | undefined;
  private upstreamBody: Readable | undefined;
  private settled = false;

  constructor(
    private readonly input: ForwardInput,
    private readonly res: ServerResponse,
    private readonly dispatcher: Dispatcher,
    private readonly log: Logger,
  ) {
    this.plan = new RetryPlan(input.decision.upstream, input.decision.endpoints.length);
  }

  async run(): Promise<void> {
    const { decision } = this.input;
    this.res.once('close', this.onClientClose);
    if (decision.upstream.timeoutMs > 0) this.timer = setTimeout(this.onTimeout, decision.upstream.timeoutMs);
    if (decision.endpoints.length === 0) {
      this.fail({ status: 502, code: 'no_upstream', message: 'the routing decision named no endpoint' });
      return;
    }
    for (let attempt = 0; ; attempt++) {
      const address = decision.endpoints[this.plan.endpointIndex(attempt)]!;
      let response: Dispatcher.ResponseData;
      try {
        response = await this.send(address);
      } catch (err) {
        if (this.settled) return;
        if (this.plan.retryAfterError(err, attempt)) {
          proxyRetries.inc({ reason: isConnectError(err) ? 'connect_error' : 'upstream_error' });
          this.log.debug({ requestId: decision.exchange.requestId, endpoint: address, code: errorCode(err) }, 'retrying');
          if (await this.pause()) continue;
          return;
        }
        this.log.warn({ requestId: decision.exchange.requestId, endpoint: address, code: errorCode(err), err: String(err) }, 'upstream failed');
        // Pod addresses stay in the log; the client learns only what kind of failure it was.
        this.fail({ status: 502, code: 'upstream_unavailable', message: `the model server could not be reached (${errorCode(err) ?? 'error'})` });
        return;
      }
      if (this.settled) {
        response.body.destroy();
        return;
      }
      if (this.plan.retryAfterStatus(response.statusCode, attempt)) {
        proxyRetries.inc({ reason: 'status_5xx' });
        response.body.dump().catch(() => undefined);
        if (await this.pause()) continue;
        return;
      }
      decision.exchange.served(address);
      this.stream(response);
      return;
    }
  }

  private send(address: string): Promise<Dispatcher.ResponseData> {
    const { method, path, headers, body, decision } = this.input;
    const target = upstreamTarget(decision.upstream, address, path);
    return this.dispatcher.request({
      origin: target.origin,
      path: target.path,
      method: method as Dispatcher.HttpMethod,
      headers,
      body: body.length > 0 ? body : undefined,
      signal: this.abort.signal,
      // The whole-request timer is ours (trafficPolicy.timeout); an SSE stream may legitimately idle for long.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
  }

  /** Waits the retry interval; false when the request settled (client gone, timeout) meanwhile. */
  private async pause(): Promise<boolean> {
    if (this.plan.intervalMs > 0) {
      try {
        await sleep(this.plan.intervalMs, undefined, { signal: this.abort.signal });
      } catch {
        return false;
      }
    }
    return !this.settled;
  }

  private stream(response: Dispatcher.ResponseData): void {
    const { exchange } = this.input.decision;
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
      if (this.settled) return;
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
      if (this.settled) return;
      const tail = exchange.responseBody(EMPTY, true);
      this.settle('success');
      const last = held ? (tail.length > 0 ? Buffer.concat([held, tail]) : held) : tail;
      res.end(last.length > 0 ? last : undefined);
    });
    body.on('error', (err) => {
      if (this.settled) return;
      this.log.warn({ requestId: exchange.requestId, code: errorCode(err) }, 'upstream stream broke');
      this.settle('error');
      res.destroy();
    });
  }

  private readonly onClientClose = (): void => {
    if (this.settled) return;
    this.settle('cancelled');
    this.abort.abort();
    this.upstreamBody?.destroy();
  };

  private readonly onTimeout = (): void => {
    if (this.settled) return;
    const { decision } = this.input;
    this.log.warn({ requestId: decision.exchange.requestId, timeoutMs: decision.upstream.timeoutMs }, 'upstream timeout');
    this.abort.abort();
    this.upstreamBody?.destroy();
    if (this.res.headersSent) {
      this.settle('error');
      this.res.destroy();
      return;
    }
    this.fail({ status: 504, code: 'upstream_timeout', message: `upstream did not answer within ${decision.upstream.timeoutMs} ms` });
  };

  private fail(err: ApiError): void {
    this.settle('error');
    proxyLocalReplies.inc({ status: String(err.status) });
    sendError(this.res, err);
  }

  private settle(outcome: Outcome): void {
    this.settled = true;
    if (this.timer) clearTimeout(this.timer);
    this.res.off('close', this.onClientClose);
    this.input.decision.exchange.finish(outcome);
  }
}
