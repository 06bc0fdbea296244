import { performance } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { splitChunks } from '../../src/frontends/extproc/chunking.js';
import { DESTINATION_HEADER, DESTINATION_KEY, DESTINATION_NAMESPACE, SERVED_KEY, SUBSET_KEY, SUBSET_NAMESPACE } from '../../src/frontends/extproc/gateway-protocol.js';
import { toHeaderMap } from '../../src/frontends/extproc/header-map.js';
import { loadProtos } from '../../src/frontends/extproc/proto.js';
import { fromStruct, toStruct, type JsonLike } from '../../src/frontends/extproc/struct.js';
import {
  BodySendMode,
  type BodySendModeName,
  type CommonResponse,
  type HeaderMutation,
  type Metadata,
  type ProcessingMode,
  type ProcessingRequest,
  type ProcessingResponse,
  type ResponseKind,
  type StreamedBodyResponse,
} from '../../src/frontends/extproc/wire.js';
import { applyBodyMutation, applyHeaderMutation, EnvoyRejection } from './envoy/mutations.js';
import { ReplyQueue, type StreamStatus } from './envoy/reply-queue.js';

// An ext_proc client that drives a Process stream the way Envoy's ext_proc filter does, for tests and
// benchmarks: ordering per body mode, the per-message timeout outside FULL_DUPLEX_STREAMED, header and
// body mutations applied to its own copy of the request/response, and the replies Envoy refuses.

export type ModeName = Exclude<BodySendModeName, 'GRPC'>;

export interface SimulatedResponse {
  /** Default 200. */
  status?: number;
  headers?: Record<string, string>;
  /** Whole body (objects become JSON), split into `chunkSize` pieces in streamed modes. */
  body?: string | Buffer | object;
  /** SSE: each event becomes one `data: <json>\n\n` chunk, followed by `data: [DONE]\n\n`. */
  sseEvents?: unknown[];
  /** Explicit body chunks, as the upstream delivered them. */
  chunks?: (string | Buffer)[];
  trailers?: Record<string, string>;
  /** Served-endpoint metadata; default the primary destination, null for none. */
  served?: string | null;
  /** The response messages' whole `filter_metadata` (namespace → fields), as a gateway sends it; overrides `served`. */
  metadata?: Record<string, Record<string, JsonLike>>;
}

export type CancelPoint = 'request_headers' | 'request_body' | 'routed' | 'response_headers' | 'response_body';

export interface ExchangeOptions {
  mode: ModeName;
  /** Response body mode; default `mode`. */
  responseMode?: ModeName;
  /** Request headers over the defaults (POST /v1/chat/completions, JSON). */
  headers?: Record<string, string>;
  /** Request body (objects become JSON); undefined = a request without body. */
  body?: string | Buffer | object;
  /** How Envoy splits bodies in streamed modes (default 16 KiB). */
  chunkSize?: number;
  requestTrailers?: Record<string, string>;
  /** Gateway subset hint (`envoy.lb.subset_hint`), as a list or a comma string. */
  subset?: string[] | string;
  /** The upstream's response; null stops after routing. Default: 200 with an empty JSON object. */
  response?: SimulatedResponse | null;
  /** Envoy's message_timeout (default 200 ms), not applied in FULL_DUPLEX_STREAMED. */
  messageTimeoutMs?: number;
  /** Guard for waits Envoy does not time (default 10 s). */
  idleTimeoutMs?: number;
  sendBodyWithoutWaitingForHeaderResponse?: boolean;
  /** Honour mode_override from the processor (Envoy's allow_mode_override). */
  allowModeOverride?: boolean;
  /** Leave out protocol_config, as Envoys before 1.33 do. */
  omitProtocolConfig?: boolean;
  /** Cancel the stream (RST) right after this point. */
  cancelAt?: CancelPoint;
  /** Cancel the stream (RST) whenever this aborts. */
  signal?: AbortSignal;
}

export type ExchangeOutcome =
  | 'completed' // routed, and the response went through
  | 'routed' // routed; no response simulated
  | 'immediate' // the processor sent a local reply
  | 'envoy_error' // Envoy would fail the request (HTTP 500): timeout, refused reply, stream error
  | 'closed' // the processor closed the stream cleanly early; Envoy continues without it
  | 'cancelled';

export interface ImmediateReply {
  status: number;
  headers: Map<string, string>;
  body: Buffer;
  details: string;
}

export interface Transcript {
  outcome: ExchangeOutcome;
  /** Why Envoy failed or stopped, for outcomes other than completed/routed. */
  reason?: string;
  immediate?: ImmediateReply;
  /** `x-gateway-destination-endpoint` on the request when it left for the upstream. */
  destination?: string;
  /** `envoy.lb` / `x-gateway-destination-endpoint` metadata at that moment. */
  metadataDestination?: string;
  /** All dynamic metadata received, merged by namespace. */
  dynamicMetadata: Record<string, JsonLike>;
  /** Request headers as forwarded upstream (pseudo-headers included). */
  upstreamHeaders: Map<string, string>;
  upstreamBody: Buffer;
  /** A reply that carried a header mutation asked to clear the route cache (Envoy ignores it otherwise). */
  clearRouteCache: boolean;
  modeOverride?: ProcessingMode;
  /** Header mutations that arrived after the headers had left (Envoy ignores them). */
  ignoredHeaderMutations: number;
  requestReplies: ProcessingResponse[];
  responseReplies: ProcessingResponse[];
  downstreamHeaders?: Map<string, string>;
  /** Response body pieces as forwarded to the client, in order. */
  downstreamChunks: Buffer[];
  downstreamBody: Buffer;
  /** From the last request message needed for the decision to the reply that carried the route. */
  decisionMs?: number;
  grpcStatus?: StreamStatus;
}

export interface EnvoyClientOptions {
  /** PEM certificate to trust: the processor serves TLS. */
  certificate?: string;
  /** Name to verify the certificate against (default localhost, which generated certificates carry). */
  serverName?: string;
}

export class EnvoyClient {
  private readonly client: grpc.Client;

  constructor(
    readonly address: string,
    options: EnvoyClientOptions = {},
  ) {
    const { ExtProcClient } = loadProtos();
    const credentials = options.certificate
      ? grpc.credentials.createSsl(Buffer.from(options.certificate))
      : grpc.credentials.createInsecure();
    this.client = new ExtProcClient(address, credentials, {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      ...(options.certificate && { 'grpc.ssl_target_name_override': options.serverName ?? 'localhost' }),
    });
  }

  exchange(options: ExchangeOptions): Promise<Transcript> {
    const call = (this.client as unknown as { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> }).Process();
    return new ExchangeRun(call, options).run();
  }

  close(): void {
    this.client.close();
  }
}

class Stop extends Error {
  constructor(
    readonly outcome: ExchangeOutcome,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_CHUNK = 16 * 1024;

class ExchangeRun {
  private readonly replies = new ReplyQueue();
  private readonly t: Transcript = {
    outcome: 'routed',
    dynamicMetadata: {},
    upstreamHeaders: new Map(),
    upstreamBody: Buffer.alloc(0),
    clearRouteCache: false,
    ignoredHeaderMutations: 0,
    requestReplies: [],
    responseReplies: [],
    downstreamChunks: [],
    downstreamBody: Buffer.alloc(0),
  };
  private readonly body: Buffer | undefined;
  private readonly chunkSize: number;
  private readonly messageTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly requestMetadata: Metadata | undefined;
  private firstSent = false;
  private requestTrailersSent = false;
  private lastSentAt = 0;
  private headersForwarded = false;
  private responsePhase = false;
  private aborted = false;
  private readonly abort = () => {
    this.aborted = true;
    this.call.cancel();
  };

  constructor(
    private readonly call: grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>,
    private readonly o: ExchangeOptions,
  ) {
    this.body = o.body === undefined ? undefined : toBuffer(o.body);
    this.chunkSize = o.chunkSize ?? DEFAULT_CHUNK;
    this.messageTimeoutMs = o.messageTimeoutMs ?? 200;
    this.idleTimeoutMs = o.idleTimeoutMs ?? 10_000;
    this.requestMetadata =
      o.subset === undefined
        ? undefined
        : { filter_metadata: { [SUBSET_NAMESPACE]: toStruct({ [SUBSET_KEY]: o.subset }) } };
    call.on('data', (m: ProcessingResponse) => this.replies.push(m));
    call.on('status', (s: grpc.StatusObject) => this.replies.end({ code: s.code, details: s.details }));
    call.on('error', () => undefined); // the status event carries the outcome
  }

  async run(): Promise<Transcript> {
    this.o.signal?.addEventListener('abort', this.abort, { once: true });
    if (this.o.signal?.aborted) this.abort();
    try {
      await this.requestPath();
      this.checkCancel('routed');
      if (this.o.response !== null) {
        this.responsePhase = true;
        await this.responsePath(this.o.response ?? { body: {} });
        this.t.outcome = 'completed';
      }
    } catch (err) {
      if (err instanceof Stop) {
        this.t.outcome = err.outcome;
        this.t.reason = err.message;
      } else if (err instanceof EnvoyRejection) {
        this.t.outcome = 'envoy_error';
        this.t.reason = err.message;
      } else {
        this.call.cancel();
        throw err;
      }
    }
    this.o.signal?.removeEventListener('abort', this.abort);
    this.t.downstreamBody = Buffer.concat(this.t.downstreamChunks);
    if (this.t.outcome !== 'cancelled') {
      this.call.end();
      this.t.grpcStatus = await this.replies.ended(2_000);
      if (!this.t.grpcStatus) this.call.cancel();
    }
    return this.t;
  }

  // ---- request path ----

  private requestHeaders(): Map<string, string> {
    const headers = new Map<string, string>([
      [':method', 'POST'],
      [':path', '/v1/chat/completions'],
      [':authority', 'gateway.local'],
      [':scheme', 'http'],
      ['content-type', 'application/json'],
    ]);
    if (this.body !== undefined) headers.set('content-length', String(this.body.length));
    for (const [k, v] of Object.entries(this.o.headers ?? {})) headers.set(k.toLowerCase(), v);
    return headers;
  }

  private async requestPath(): Promise<void> {
    this.t.upstreamHeaders = this.requestHeaders();
    const headersMessage: ProcessingRequest = {
      request_headers: { headers: toHeaderMap(this.t.upstreamHeaders), end_of_stream: this.body === undefined },
      ...this.withRequestMetadata(),
    };
    const mode = this.o.mode;
    if (this.body === undefined || mode === 'NONE') {
      this.send(headersMessage);
      this.checkCancel('request_headers');
      const reply = await this.expect(['request_headers'], mode !== 'FULL_DUPLEX_STREAMED');
      this.t.decisionMs = performance.now() - this.lastSentAt;
      this.applyRequestCommon(reply.request_headers?.response);
      this.t.upstreamBody = this.body ?? Buffer.alloc(0);
      return this.forwardHeaders();
    }
    switch (mode) {
      case 'FULL_DUPLEX_STREAMED':
        return this.requestFullDuplex(headersMessage, this.body);
      case 'STREAMED':
        return this.requestStreamed(headersMessage, this.body);
      default:
        this.send(headersMessage);
        this.checkCancel('request_headers');
        this.applyRequestCommon((await this.expect(['request_headers'], true)).request_headers?.response);
        return this.requestBufferedBody(this.body);
    }
  }

  /** Envoy sends the whole body once the headers are answered; headers go upstream after the body reply. */
  private async requestBufferedBody(body: Buffer): Promise<void> {
    const trailers = this.o.requestTrailers;
    this.send({ request_body: { body, end_of_stream: trailers === undefined }, ...this.withRequestMetadata() });
    this.checkCancel('request_body');
    const reply = await this.expect(['request_body'], true);
    this.t.decisionMs = performance.now() - this.lastSentAt;
    const common = reply.request_body?.response;
    this.applyRequestCommon(common);
    this.t.upstreamBody = this.replaceBuffered(body, this.t.upstreamHeaders, common);
    await this.requestTrailersPhase();
    this.forwardHeaders();
  }

  private async requestStreamed(headersMessage: ProcessingRequest, body: Buffer): Promise<void> {
    const chunks = this.bodyMessages(body, 'request_body', this.o.requestTrailers !== undefined);
    const out: Buffer[] = [];
    if (this.o.sendBodyWithoutWaitingForHeaderResponse) {
      this.send(headersMessage);
      this.sendAll(chunks, 'request_body');
      this.sendRequestTrailers();
      const reply = await this.expect(['request_headers'], true);
      this.t.decisionMs = performance.now() - this.lastSentAt;
      this.applyRequestCommon(reply.request_headers?.response);
      this.forwardHeaders();
    } else {
      this.send(headersMessage);
      this.checkCancel('request_headers');
      const reply = await this.expect(['request_headers'], true);
      this.applyRequestCommon(reply.request_headers?.response);
      if (this.o.allowModeOverride && reply.mode_override?.request_body_mode === BodySendMode.BUFFERED) {
        return this.requestBufferedBody(body);
      }
      this.forwardHeaders();
      this.sendAll(chunks, 'request_body');
      this.sendRequestTrailers();
    }
    for (const chunk of chunks) {
      const reply = await this.expect(['request_body'], true);
      this.t.decisionMs = performance.now() - this.lastSentAt;
      const common = reply.request_body?.response;
      this.applyRequestCommon(common);
      out.push(applyBodyMutation(chunk.request_body?.body ?? Buffer.alloc(0), common?.body_mutation));
    }
    this.t.upstreamBody = Buffer.concat(out);
    await this.requestTrailersPhase();
  }

  /** Envoy sends everything without waiting; replies must be headers first, then streamed_response chunks. */
  private async requestFullDuplex(headersMessage: ProcessingRequest, body: Buffer): Promise<void> {
    const trailers = this.o.requestTrailers !== undefined;
    this.send(headersMessage);
    this.sendAll(this.bodyMessages(body, 'request_body', trailers), 'request_body');
    this.sendRequestTrailers();
    const reply = await this.expect(['request_headers'], false);
    this.t.decisionMs = performance.now() - this.lastSentAt;
    this.applyRequestCommon(reply.request_headers?.response);
    this.forwardHeaders();
    this.t.upstreamBody = Buffer.concat(await this.collectStreamed('request_body', trailers ? 'request_trailers' : undefined));
  }

  private sendRequestTrailers(): void {
    const trailers = this.o.requestTrailers;
    if (trailers === undefined || this.requestTrailersSent) return;
    this.requestTrailersSent = true;
    this.send({ request_trailers: { trailers: toHeaderMap(Object.entries(trailers)) }, ...this.withRequestMetadata() });
  }

  /** Sends the request trailers if still due and waits for their reply. */
  private async requestTrailersPhase(): Promise<void> {
    if (this.o.requestTrailers === undefined) return;
    this.sendRequestTrailers();
    await this.expect(['request_trailers'], true);
  }

  private withRequestMetadata(): Pick<ProcessingRequest, 'metadata_context'> {
    return this.requestMetadata ? { metadata_context: this.requestMetadata } : {};
  }

  private applyRequestCommon(common: CommonResponse | null | undefined): void {
    if (!common) return;
    const mutation = common.header_mutation;
    if (hasHeaderChanges(mutation)) {
      if (this.headersForwarded) this.t.ignoredHeaderMutations++;
      else applyHeaderMutation(this.t.upstreamHeaders, mutation);
      if (common.clear_route_cache && !this.headersForwarded) this.t.clearRouteCache = true;
    }
  }

  /** The request headers leave for the upstream: this is when the destination counts. */
  private forwardHeaders(): void {
    this.headersForwarded = true;
    this.t.destination = this.t.upstreamHeaders.get(DESTINATION_HEADER);
    const lb = this.t.dynamicMetadata[DESTINATION_NAMESPACE];
    const value = lb && typeof lb === 'object' && !Array.isArray(lb) ? lb[DESTINATION_KEY] : undefined;
    if (typeof value === 'string') this.t.metadataDestination = value;
  }

  // ---- response path ----

  private async responsePath(response: SimulatedResponse): Promise<void> {
    const mode = this.o.responseMode ?? this.o.mode;
    const served = response.served === null ? undefined : (response.served ?? this.t.destination?.split(',')[0]);
    const namespaces = response.metadata ?? (served ? { [DESTINATION_NAMESPACE]: { [SERVED_KEY]: served } } : undefined);
    const metadata: Pick<ProcessingRequest, 'metadata_context'> = namespaces
      ? { metadata_context: { filter_metadata: Object.fromEntries(Object.entries(namespaces).map(([ns, fields]) => [ns, toStruct(fields)])) } }
      : {};
    const { headers, chunks } = materialize(response, this.chunkSize);
    const trailers = response.trailers;
    const hasBody = chunks.length > 0;
    this.t.downstreamHeaders = headers;
    const headersMessage: ProcessingRequest = {
      response_headers: { headers: toHeaderMap(headers), end_of_stream: !hasBody && trailers === undefined },
      ...metadata,
    };
    const bodyMessages: ProcessingRequest[] = chunks.map((chunk, i) => ({
      response_body: { body: chunk, end_of_stream: trailers === undefined && i === chunks.length - 1 },
      ...metadata,
    }));
    const trailersMessage: ProcessingRequest | undefined =
      trailers === undefined ? undefined : { response_trailers: { trailers: toHeaderMap(Object.entries(trailers)) }, ...metadata };

    if (mode === 'FULL_DUPLEX_STREAMED') {
      this.send(headersMessage);
      this.checkCancel('response_headers');
      this.sendAll(bodyMessages, 'response_body');
      if (trailersMessage) this.send(trailersMessage);
      this.applyResponseHeaders((await this.expect(['response_headers'], false)).response_headers?.response);
      if (hasBody || trailersMessage) {
        const pieces = await this.collectStreamed('response_body', trailersMessage ? 'response_trailers' : undefined);
        this.t.downstreamChunks.push(...pieces.filter((p) => p.length > 0));
      }
      return;
    }

    this.send(headersMessage);
    this.checkCancel('response_headers');
    this.applyResponseHeaders((await this.expect(['response_headers'], true)).response_headers?.response);
    if (!hasBody || mode === 'NONE') {
      this.t.downstreamChunks.push(...chunks);
    } else if (mode === 'STREAMED') {
      this.sendAll(bodyMessages, 'response_body');
      for (const message of bodyMessages) {
        const common = (await this.expect(['response_body'], true)).response_body?.response;
        if (hasHeaderChanges(common?.header_mutation)) this.t.ignoredHeaderMutations++;
        this.t.downstreamChunks.push(applyBodyMutation(message.response_body?.body ?? Buffer.alloc(0), common?.body_mutation));
      }
    } else {
      const whole = Buffer.concat(chunks);
      this.send({ response_body: { body: whole, end_of_stream: trailers === undefined }, ...metadata });
      this.checkCancel('response_body');
      const common = (await this.expect(['response_body'], true)).response_body?.response;
      applyHeaderMutation(headers, common?.header_mutation);
      this.t.downstreamChunks.push(this.replaceBuffered(whole, headers, common));
    }
    if (trailersMessage) {
      this.send(trailersMessage);
      await this.expect(['response_trailers'], true);
    }
  }

  private applyResponseHeaders(common: CommonResponse | null | undefined): void {
    if (this.t.downstreamHeaders) applyHeaderMutation(this.t.downstreamHeaders, common?.header_mutation);
  }

  // ---- shared mechanics ----

  private send(message: ProcessingRequest): void {
    if (!this.firstSent) {
      this.firstSent = true;
      if (!this.o.omitProtocolConfig) {
        message.protocol_config = {
          request_body_mode: BodySendMode[this.o.mode],
          response_body_mode: BodySendMode[this.o.responseMode ?? this.o.mode],
          send_body_without_waiting_for_header_response: this.o.sendBodyWithoutWaitingForHeaderResponse === true,
        };
      }
    }
    this.call.write(message);
    this.lastSentAt = performance.now();
  }

  private sendAll(messages: ProcessingRequest[], phase: 'request_body' | 'response_body'): void {
    messages.forEach((message, i) => {
      this.send(message);
      if (i === 0) this.checkCancel(phase);
    });
  }

  private bodyMessages(body: Buffer, phase: 'request_body', trailers: boolean): ProcessingRequest[] {
    const chunks = splitChunks(body, this.chunkSize);
    return chunks.map((chunk, i) => ({
      [phase]: { body: chunk, end_of_stream: !trailers && i === chunks.length - 1 },
      ...this.withRequestMetadata(),
    }));
  }

  private checkCancel(point: CancelPoint): void {
    if (this.o.cancelAt !== point) return;
    this.call.cancel();
    throw new Stop('cancelled', `cancelled after ${point}`);
  }

  /** The next reply, which must be one of `kinds` (or a local reply, which ends the exchange). */
  private async expect(kinds: ResponseKind[], timed: boolean): Promise<ProcessingResponse> {
    const waitMs = timed ? this.messageTimeoutMs : this.idleTimeoutMs;
    const next = await this.replies.next(waitMs);
    if (next.kind === 'timeout') {
      throw new Stop('envoy_error', timed ? `message timeout (${waitMs} ms) waiting for ${kinds.join('|')}` : `no ${kinds.join('|')} reply within ${waitMs} ms`);
    }
    if (next.kind === 'end') {
      if (this.aborted) throw new Stop('cancelled', 'cancelled by the caller');
      if (next.status.code === grpc.status.OK) throw new Stop('closed', `processor closed the stream before ${kinds.join('|')}`);
      throw new Stop('envoy_error', `stream failed: ${grpc.status[next.status.code]} ${next.status.details}`);
    }
    const message = next.message;
    (this.responsePhase ? this.t.responseReplies : this.t.requestReplies).push(message);
    if (message.response === 'immediate_response') {
      this.t.immediate = immediateOf(message);
      throw new Stop('immediate', `immediate response ${this.t.immediate.status}`);
    }
    if (!message.response || !kinds.includes(message.response)) {
      throw new Stop('envoy_error', `spurious ${message.response} reply while waiting for ${kinds.join('|')}`);
    }
    if (message.mode_override) this.t.modeOverride = message.mode_override;
    this.mergeMetadata(message);
    return message;
  }

  /** FULL_DUPLEX_STREAMED body replies: streamed_response chunks until end_of_stream (or the trailers reply). */
  private async collectStreamed(phase: 'request_body' | 'response_body', trailersKind?: ResponseKind): Promise<Buffer[]> {
    const pieces: Buffer[] = [];
    for (;;) {
      const reply = await this.expect(trailersKind ? [phase, trailersKind] : [phase], false);
      if (reply.response === trailersKind) return pieces;
      const common = reply[phase]?.response;
      if (hasHeaderChanges(common?.header_mutation)) this.t.ignoredHeaderMutations++;
      const streamed = streamedOf(common);
      pieces.push(streamed.body ?? Buffer.alloc(0));
      if (streamed.end_of_stream && !trailersKind) return pieces;
    }
  }

  /** BUFFERED body replacement: Envoy refuses one whose length disagrees with content-length. */
  private replaceBuffered(body: Buffer, headers: Map<string, string>, common: CommonResponse | null | undefined): Buffer {
    const mutation = common?.body_mutation;
    if (mutation?.mutation === 'body') {
      const declared = headers.get('content-length');
      if (declared !== undefined && Number(declared) !== (mutation.body ?? Buffer.alloc(0)).length) {
        throw new EnvoyRejection('mismatch between content length and the length of the mutated body');
      }
    }
    return applyBodyMutation(body, mutation);
  }

  private mergeMetadata(message: ProcessingResponse): void {
    for (const [namespace, value] of Object.entries(fromStruct(message.dynamic_metadata))) {
      const before = this.t.dynamicMetadata[namespace];
      this.t.dynamicMetadata[namespace] = isObject(before) && isObject(value) ? { ...before, ...value } : value;
    }
  }
}

function streamedOf(common: CommonResponse | null | undefined): StreamedBodyResponse {
  const mutation = common?.body_mutation;
  if (mutation?.mutation !== 'streamed_response' || !mutation.streamed_response) {
    throw new EnvoyRejection('FULL_DUPLEX_STREAMED body reply without a streamed_response mutation');
  }
  return mutation.streamed_response;
}

function immediateOf(message: ProcessingResponse): ImmediateReply {
  const r = message.immediate_response!;
  const headers = new Map<string, string>();
  applyHeaderMutation(headers, r.headers);
  return { status: r.status?.code ?? 0, headers, body: r.body ?? Buffer.alloc(0), details: r.details ?? '' };
}

function hasHeaderChanges(mutation: HeaderMutation | null | undefined): boolean {
  return (mutation?.set_headers?.length ?? 0) > 0 || (mutation?.remove_headers?.length ?? 0) > 0;
}

function isObject(value: JsonLike | undefined): value is { [key: string]: JsonLike } {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function toBuffer(body: string | Buffer | object): Buffer {
  if (Buffer.isBuffer(body)) return body;
  return Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
}

function materialize(response: SimulatedResponse, chunkSize: number): { headers: Map<string, string>; chunks: Buffer[] } {
  const sse = response.sseEvents !== undefined;
  let chunks: Buffer[] = [];
  if (response.chunks) chunks = response.chunks.map((c) => Buffer.from(c));
  else if (sse) chunks = [...response.sseEvents!.map((e) => `data: ${JSON.stringify(e)}\n\n`), 'data: [DONE]\n\n'].map((c) => Buffer.from(c));
  else if (response.body !== undefined) chunks = splitChunks(toBuffer(response.body), chunkSize).filter((c) => c.length > 0);
  const headers = new Map<string, string>([
    [':status', String(response.status ?? 200)],
    ['content-type', sse ? 'text/event-stream' : 'application/json'],
  ]);
  if (!sse && !response.chunks && chunks.length > 0) {
    headers.set('content-length', String(chunks.reduce((n, c) => n + c.length, 0)));
  }
  for (const [k, v] of Object.entries(response.headers ?? {})) headers.set(k.toLowerCase(), v);
  return { headers, chunks };
}
