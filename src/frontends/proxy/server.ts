import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Decision, InboundRequest, Pipeline } from '../../core/types.js';
import { logger as rootLogger, type Logger } from '../../observability/logger.js';
import { defaultBodyBudget, type BodyBudget } from '../body-budget.js';
import { startRequestTrace } from '../../observability/tracing/request-trace.js';
import { rejectMalformed, sendError } from './errors.js';
import { Dispatchers } from './dispatchers.js';
import { ConnectionDrain } from './drain.js';
import { Forwarding } from './forward.js';
import { inboundHeaders } from './headers.js';
import type { TrustedProxies } from './trusted-proxies.js';
import { proxyLocalReplies } from './metrics.js';
import { readBody } from './request-body.js';
import { originFormPath } from './upstream-target.js';

export interface UpstreamTlsOptions {
  /** PEM CA bundle trusted for `https` pods, in addition to nothing else when set (providers: see `providers.caFile`). */
  ca?: string | Buffer;
  /** Default true; false accepts any certificate (self-signed pods addressed by IP). */
  rejectUnauthorized?: boolean;
}

export interface ProxyServerOptions {
  host: string;
  /** 0 = ephemeral. */
  port: number;
  pipeline: Pipeline;
  /** Largest request body accepted; a bigger one gets a 413 without being buffered. */
  maxBodyBytes: number;
  logger?: Logger;
  /** Upstream TCP/TLS connect timeout; a timed-out connect fails over like a refused one. Default 5000 ms. */
  connectTimeoutMs?: number;
  /**
   * How long an idle upstream keep-alive connection is kept open. Default 4 s: below uvicorn's 5 s (vLLM, SGLang), so
   * the proxy never sends a request on a connection the engine is closing.
   */
  upstreamKeepAliveMs?: number;
  upstreamTls?: UpstreamTlsOptions;
  /** During a drain, how long a keep-alive connection must stay idle before it is closed. Default 1000 ms. */
  drainIdleCloseMs?: number;
  /** Time a client has to send its request headers; 408 after. Default 60 s (node's). */
  headersTimeoutMs?: number;
  /** Time a client has to send its whole request, body included; 408 after. Default 300 s (node's). */
  requestReceiveTimeoutMs?: number;
  /** Peers whose `x-forwarded-host` / `x-forwarded-proto` are passed on; from anyone else they are replaced. */
  trustedProxies?: TrustedProxies;
  /** Ceiling on buffered request bodies, shared with ext_proc. Default 32 × maxBodyBytes, for this server alone. */
  bodyBudget?: BodyBudget;
  /** A request body that sends no bytes for this long is answered 408 and its connection closed. Default 30 s. */
  requestIdleTimeoutMs?: number;
}

export interface ProxyServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  /**
   * Stops accepting connections and answers `Connection: close` from then on, lets in-flight requests finish for up
   * to `graceMs` (default 10 s) while connections close as they fall idle, then cancels the rest and closes every
   * connection, downstream and upstream.
   */
  close(graceMs?: number): Promise<void>;
}

interface Context {
  pipeline: Pipeline;
  trustedProxies?: TrustedProxies;
  maxBodyBytes: number;
  bodyBudget: BodyBudget;
  requestIdleTimeoutMs: number;
  dispatchers: Dispatchers;
  log: Logger;
}

/** The standalone HTTP front door: the routing pipeline in front of the engines, with no Envoy. */
export async function startProxyServer(options: ProxyServerOptions): Promise<ProxyServer> {
  if (!Number.isInteger(options.maxBodyBytes) || options.maxBodyBytes <= 0) {
    throw new RangeError(`maxBodyBytes must be a positive integer, got ${options.maxBodyBytes}`);
  }
  const log = (options.logger ?? rootLogger).child({ component: 'proxy' });
  const dispatchers = new Dispatchers({
    keepAliveMs: options.upstreamKeepAliveMs ?? 4_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
    podTls: options.upstreamTls,
  });
  const ctx: Context = {
    pipeline: options.pipeline,
    maxBodyBytes: options.maxBodyBytes,
    bodyBudget: options.bodyBudget ?? defaultBodyBudget(options.maxBodyBytes),
    requestIdleTimeoutMs: options.requestIdleTimeoutMs ?? 30_000,
    dispatchers,
    log,
    trustedProxies: options.trustedProxies,
  };
  const inFlight = new Tracker();
  const headersTimeout = options.headersTimeoutMs ?? 60_000;
  const requestTimeout = Math.max(headersTimeout, options.requestReceiveTimeoutMs ?? 300_000);
  // node checks both timeouts on this period (30 s by default): a short one would otherwise fire up to 30 s late.
  const timing = { headersTimeout, requestTimeout, connectionsCheckingInterval: Math.min(1_000, headersTimeout) };
  const server: Server = createServer(timing, (req, res) => {
    drain.track(req, res);
    inFlight.enter();
    res.once('close', () => inFlight.leave());
    handle(req, res, ctx).catch((err: unknown) => {
      log.error({ err: String(err) }, 'proxy handler failed');
      if (!res.headersSent) internalError(res);
      else res.destroy();
    });
  });
  const drain = new ConnectionDrain(server, options.drainIdleCloseMs ?? 1_000);
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => rejectMalformed(socket, err.code));

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  log.info({ host: options.host, port }, 'proxy listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    close(graceMs = 10_000) {
      closing ??= (async () => {
        const closed = drain.start();
        await drain.settled(graceMs);
        server.closeAllConnections();
        await closed;
        server.close(); // http's own cleanup (its connection checks); the listener is closed already
        // Responses report 'close' (which cancels their upstream request) just after the server's own close.
        await inFlight.idle(1_000);
        await dispatchers.destroy();
      })();
      return closing;
    },
  };
}

async function handle(req: IncomingMessage, res: ServerResponse, ctx: Context): Promise<void> {
  // A client reset surfaces as 'close' on the response; the error itself needs no handling.
  req.on('error', () => undefined);
  let clientGone = false;
  const onGone = () => (clientGone = true);
  res.once('close', onGone);

  if ((req.headersDistinct.host?.length ?? 0) > 1) {
    localError(res, 400, 'bad_request', 'the request has more than one Host header', true);
    return;
  }
  const path = originFormPath(req.url);
  const headers = inboundHeaders(req);
  const trace = startRequestTrace('proxy', req.method ?? 'GET', path ?? '/', headers);
  if (trace) {
    res.once('close', () => {
      if (res.headersSent) trace.respond(res.statusCode);
      trace.end(res.writableFinished ? 'success' : 'cancelled');
    });
  }
  if (!path) {
    localError(res, 400, 'bad_request', 'the request target must be a path such as /v1/chat/completions');
    return;
  }
  const read = await readBody(req, { maxBytes: ctx.maxBodyBytes, budget: ctx.bodyBudget, idleTimeoutMs: ctx.requestIdleTimeoutMs });
  if (read.kind === 'aborted') return;
  if (read.kind === 'too_large') {
    localError(res, 413, 'request_too_large', `request body exceeds ${ctx.maxBodyBytes} bytes`, true);
    return;
  }
  if (read.kind === 'over_budget') {
    // 503, not 413: this body is acceptable, the router is full.
    localError(res, 503, 'body_budget_exhausted', 'the router is holding too many request bodies; retry shortly', true);
    return;
  }
  if (read.kind === 'stalled') {
    localError(res, 408, 'request_timeout', `no request body bytes for ${read.idleMs} ms`, true);
    return;
  }
  // The body stays in memory through forwarding and retries: it counts against the budget until the response ends.
  if (clientGone) read.release();
  else res.once('close', read.release);
  // Work for a client that left is dropped (token counting).
  const gone = new AbortController();
  res.once('close', () => gone.abort());
  const inbound: InboundRequest = {
    method: req.method ?? 'GET',
    path,
    headers,
    body: read.body,
    frontend: 'proxy',
    signal: gone.signal,
    ...(trace && { trace }),
  };
  let decision: Decision;
  try {
    decision = await ctx.pipeline.handle(inbound);
  } catch (err) {
    ctx.log.error({ err: String(err), path }, 'pipeline failed');
    if (!clientGone) internalError(res);
    return;
  }
  res.off('close', onGone);
  if (decision.kind === 'route' && clientGone) {
    decision.exchange.finish('cancelled');
    return;
  }
  if (clientGone) return;
  if (decision.kind === 'reject') {
    res.writeHead(decision.status, { ...decision.headers, 'content-length': decision.body.length });
    res.end(decision.body);
    return;
  }
  const clientIp = req.socket.remoteAddress;
  const forwarded = { clientIp, host: req.headers.host, trustForwarded: ctx.trustedProxies?.includes(clientIp) === true };
  const input = { method: inbound.method, path, clientHeaders: inbound.headers, forwarded, body: inbound.body, decision, trace };
  await new Forwarding(input, res, (upstream) => ctx.dispatchers.for(upstream), ctx.log).run();
}

function localError(res: ServerResponse, status: number, code: string, message: string, closeConnection = false): void {
  proxyLocalReplies.inc({ status: String(status) });
  sendError(res, { status, code, message }, closeConnection);
}

function internalError(res: ServerResponse): void {
  localError(res, 500, 'internal_error', 'the router failed to process the request');
}

/** Counts requests in progress so that shutdown can wait for them. */
class Tracker {
  private count = 0;
  private waiters: Array<() => void> = [];

  enter(): void {
    this.count++;
  }

  leave(): void {
    this.count--;
    if (this.count === 0) for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when no request is in progress, or after `timeoutMs` at the latest. */
  idle(timeoutMs: number): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(resolve, timeoutMs);
      this.waiters.push(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
