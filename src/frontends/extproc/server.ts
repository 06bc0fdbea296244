import * as grpc from '@grpc/grpc-js';
import type { Pipeline } from '../../core/types.js';
import { defaultBodyBudget, type BodyBudget } from '../body-budget.js';
import { logger as rootLogger, type Logger } from '../../observability/logger.js';
import { bindAddress, serverTls, type TlsOption } from './credentials.js';
import { HealthState } from './health.js';
import { extProcStreams } from './metrics.js';
import { loadProtos } from './proto.js';
import { ProcessStream, type ReplySink } from './stream.js';
import type { ProcessingRequest, ProcessingResponse } from './wire.js';

export interface ExtProcServerOptions {
  host: string;
  port: number;
  pipeline: Pipeline;
  /** Largest request body accepted; bigger ones get a 413 ImmediateResponse. */
  maxBodyBytes: number;
  tls?: TlsOption;
  logger?: Logger;
  /** Decision deadline in FULL_DUPLEX_STREAMED, where Envoy has no message timer. Default 10 s. */
  decisionTimeoutMs?: number;
  /** Envoy's ext_proc message_timeout (default 200 ms); other modes must decide within 90% of it. */
  messageTimeoutMs?: number;
  /** Gateway API conformance hooks (never in production: they name pod addresses). */
  testMode?: boolean;
  /** Streams one gateway connection may have open at once (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS). Default 500. */
  maxConcurrentStreams?: number;
  /** No message for this long while the request is received → DEADLINE_EXCEEDED. Default 30 s; 0 disables. */
  requestIdleTimeoutMs?: number;
  /** The same after the decision, while the response is relayed. Default 10 min; 0 disables. */
  responseIdleTimeoutMs?: number;
  /** Ceiling on buffered request bodies, shared with the proxy. Default 32 × maxBodyBytes, for this server alone. */
  bodyBudget?: BodyBudget;
}

export interface StartedServer {
  port: number;
  /** PEM certificate served when TLS is on (the generated one for 'self-signed'). */
  certificate?: string;
}

/**
 * Node's HTTP/2 (nghttp2) answers more than 1,000 stream resets on one connection, refilled at 33 per second,
 * with GOAWAY(INTERNAL_ERROR), and Node 20 cannot raise that limit. Envoy resets every ext_proc stream it is done
 * with, and cancels them all when clients go away together; capping the streams open on a connection at half
 * the budget means one burst of cancels can never exhaust it (Envoy opens more connections instead).
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 500;

/** Room for the headers and framing around a whole buffered body in one gRPC message. */
const MESSAGE_HEADROOM_BYTES = 1024 * 1024;

/** The Envoy ext_proc front door: ExternalProcessor.Process plus grpc.health.v1 on the same port. */
export class ExtProcServer {
  private server: grpc.Server | undefined;
  private readonly calls = new Set<grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>>();

  constructor(readonly health: HealthState = new HealthState()) {}

  async start(options: ExtProcServerOptions): Promise<StartedServer> {
    if (this.server) throw new Error('ext_proc server already started');
    if (!Number.isInteger(options.maxBodyBytes) || options.maxBodyBytes <= 0) {
      throw new RangeError(`maxBodyBytes must be a positive integer, got ${options.maxBodyBytes}`);
    }
    const protos = loadProtos();
    const streamOptions = {
      pipeline: options.pipeline,
      maxBodyBytes: options.maxBodyBytes,
      decisionTimeoutMs: options.decisionTimeoutMs ?? 10_000,
      messageTimeoutMs: options.messageTimeoutMs ?? 200,
      testMode: options.testMode === true,
      requestIdleTimeoutMs: options.requestIdleTimeoutMs ?? 30_000,
      responseIdleTimeoutMs: options.responseIdleTimeoutMs ?? 600_000,
      bodyBudget: options.bodyBudget ?? defaultBodyBudget(options.maxBodyBytes),
      logger: options.logger ?? rootLogger,
    };
    const server = new grpc.Server({
      'grpc.max_receive_message_length': options.maxBodyBytes + MESSAGE_HEADROOM_BYTES,
      'grpc.max_send_message_length': -1,
      'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    });
    server.addService(protos.extProcService, {
      Process: (call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>) => this.serve(call, streamOptions),
    });
    server.addService(protos.healthService, this.health.handlers());
    const tls = serverTls(options.tls);
    const port = await bind(server, bindAddress(options.host, options.port), tls.credentials);
    this.server = server;
    return { port, ...(tls.certificate !== undefined && { certificate: tls.certificate }) };
  }

  /** Readiness as reported by health checks (synced with the sources, and leader where that applies). */
  setReady(ready: boolean): void {
    this.health.setReady(ready);
  }

  get activeStreams(): number {
    return this.calls.size;
  }

  /**
   * Graceful stop: health turns NOT_SERVING; if a gateway or probe health-checks this server, new streams are
   * still served for `delayMs` so it can notice and stop sending (closing the listener at once would fail the
   * streams it sends meanwhile); then no new streams are accepted and open ones may finish within `graceMs`,
   * after which they are cancelled (their exchanges finish as 'cancelled').
   */
  async stop(graceMs = 10_000, delayMs = 0): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    this.health.setDraining();
    // Observed within the last minute: health checkers poll every few seconds at most.
    if (delayMs > 0 && this.health.isObserved(60_000)) await new Promise((r) => setTimeout(r, delayMs));
    this.health.closeWatchers();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, graceMs);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private serve(
    call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>,
    options: ConstructorParameters<typeof ProcessStream>[1],
  ): void {
    this.calls.add(call);
    extProcStreams.inc();
    let gone = false;
    const forget = () => {
      if (gone) return;
      gone = true;
      this.calls.delete(call);
      extProcStreams.dec();
    };
    const sink: ReplySink = {
      send: (message) => call.write(message),
      close: () => call.end(),
      fail: (code, details) => call.emit('error', { code, details }),
    };
    const stream = new ProcessStream(sink, options);
    call.on('data', (message: ProcessingRequest) => {
      try {
        stream.onMessage(message);
      } catch (err) {
        stream.onInternalError(err);
      }
    });
    call.on('end', () => stream.onHalfClose());
    call.on('cancelled', () => stream.onCancel());
    call.on('error', () => stream.onCancel());
    call.on('finish', forget);
    call.on('close', forget);
  }
}

export interface HealthServerOptions {
  host: string;
  port: number;
  health: HealthState;
  tls?: TlsOption;
}

export interface HealthServer {
  port: number;
  stop(): Promise<void>;
}

/** grpc.health.v1 alone on its own port (the Go picker's 9003), sharing the ext_proc server's state. */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server = new grpc.Server();
  server.addService(loadProtos().healthService, options.health.handlers());
  const port = await bind(server, bindAddress(options.host, options.port), serverTls(options.tls).credentials);
  return {
    port,
    stop: async () => server.forceShutdown(),
  };
}

function bind(server: grpc.Server, address: string, credentials: grpc.ServerCredentials): Promise<number> {
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, port) => (err ? reject(err) : resolve(port)));
  });
}
