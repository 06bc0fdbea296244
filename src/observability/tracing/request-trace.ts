import type { Readable } from 'node:stream';
import { ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_RESEND_COUNT,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
} from '@opentelemetry/semantic-conventions';
import type { HeaderMapLike, Outcome } from '../../core/types.js';

// One trace per request: a server span from the front door, children for the pipeline's steps, and a client span per
// upstream attempt whose context goes to the engine as W3C `traceparent`. Nothing here runs while tracing is off:
// `startRequestTrace` returns undefined and every caller skips its span work.

let tracer: Tracer | undefined;

/** Set by startTracing (provider.ts); undefined turns tracing off for requests that start afterwards. */
export function useTracer(t: Tracer | undefined): void {
  tracer = t;
}

export const SPAN = {
  request: 'kthena.request',
  auth: 'kthena.auth',
  rateLimit: 'kthena.rate_limit',
  schedule: 'kthena.schedule',
  upstream: 'kthena.upstream',
} as const;

const propagator = new W3CTraceContextPropagator();
const headerGetter = {
  keys: (h: HeaderMapLike) => [...h.keys()],
  get: (h: HeaderMapLike, key: string) => h.get(key),
};
const recordSetter = {
  set: (r: Record<string, string>, key: string, value: string) => {
    r[key] = value;
  },
};

/** A trace for a request that just arrived, continuing the caller's `traceparent`; undefined while tracing is off. */
export function startRequestTrace(frontend: 'extproc' | 'proxy', method: string, path: string, headers: HeaderMapLike): RequestTrace | undefined {
  return tracer && new RequestTrace(tracer, frontend, method, path, headers);
}

export class RequestTrace {
  private readonly root: Span;
  private readonly ctx: Context;
  private upstreamSpan: Span | undefined;
  private attempts = 0;
  private status = 0;
  private ended = false;

  constructor(
    private readonly tracer: Tracer,
    frontend: 'extproc' | 'proxy',
    method: string,
    path: string,
    headers: HeaderMapLike,
  ) {
    const parent = propagator.extract(ROOT_CONTEXT, headers, headerGetter);
    const q = path.indexOf('?');
    this.root = tracer.startSpan(
      SPAN.request,
      {
        kind: SpanKind.SERVER,
        attributes: { [ATTR_HTTP_REQUEST_METHOD]: method, [ATTR_URL_PATH]: q < 0 ? path : path.slice(0, q), 'kthena.frontend': frontend },
      },
      parent,
    );
    this.ctx = trace.setSpan(parent, this.root);
  }

  /** What the pipeline learned about the request. */
  describe(attributes: Attributes): void {
    this.root.setAttributes(attributes);
  }

  /** A step of the pipeline (auth, rate limit, scheduling); end it with `endSpan`. */
  child(name: string): Span {
    return this.tracer.startSpan(name, undefined, this.ctx);
  }

  /** The status the client gets (an upstream's, or the router's own answer). */
  respond(status: number): void {
    this.status = status;
  }

  /**
   * ext_proc: the gateway sends the request to `address`; the span lasts until the response ends (`upstreamEnded`).
   * Its context is written into `headers` (the header mutation) for the engine.
   */
  upstream(address: string, headers: Record<string, string>): void {
    this.upstreamSpan?.end();
    this.upstreamSpan = this.tracer.startSpan(SPAN.upstream, { kind: SpanKind.CLIENT, attributes: serverAttributes(address) }, this.ctx);
    propagator.inject(trace.setSpan(this.ctx, this.upstreamSpan), headers, recordSetter);
  }

  upstreamEnded(outcome: Outcome): void {
    const span = this.upstreamSpan;
    if (!span) return;
    this.upstreamSpan = undefined;
    endSpan(span, this.status ? { [ATTR_HTTP_RESPONSE_STATUS_CODE]: this.status } : undefined, failure(this.status, outcome));
  }

  /** Proxy: one upstream request (a retry, a fallback target, a prefill phase); its context is written into `headers`. */
  attempt(address: string, headers: Record<string, string>): UpstreamAttempt {
    const attributes = serverAttributes(address);
    if (this.attempts > 0) attributes[ATTR_HTTP_REQUEST_RESEND_COUNT] = this.attempts;
    this.attempts++;
    const span = this.tracer.startSpan(SPAN.upstream, { kind: SpanKind.CLIENT, attributes }, this.ctx);
    propagator.inject(trace.setSpan(this.ctx, span), headers, recordSetter);
    return new UpstreamAttempt(span);
  }

  /** The request is over for the client. Idempotent. */
  end(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    this.upstreamEnded(outcome);
    endSpan(this.root, this.status ? { [ATTR_HTTP_RESPONSE_STATUS_CODE]: this.status } : undefined, failure(this.status, outcome));
  }
}

export class UpstreamAttempt {
  constructor(private readonly span: Span) {}

  /** The engine answered; the span ends when its body has been read or dropped. */
  answered(status: number, body: Readable): void {
    this.span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    if (status >= 500) this.span.setStatus({ code: SpanStatusCode.ERROR });
    if (body.closed) this.span.end();
    else body.once('close', () => this.span.end());
  }

  /** No response: connect error, reset, timeout or cancellation. */
  failed(err: unknown): void {
    const code = (err as { code?: unknown } | undefined)?.code;
    endSpan(this.span, undefined, typeof code === 'string' ? code : err instanceof Error ? err.name : 'error');
  }
}

/** How a step's result reads on its span. */
export interface StepResult {
  attributes?: Attributes;
  /** Set when the step failed: the span's `error.type`. */
  error?: string;
}

/** Runs one pipeline step in a child span of the request's trace; just runs it while tracing is off. */
export function traced<T>(trace: RequestTrace | undefined, name: string, run: () => Promise<T>, describe: (result: T) => StepResult): Promise<T> {
  if (!trace) return run();
  const span = trace.child(name);
  return run().then(
    (result) => {
      const { attributes, error } = describe(result);
      endSpan(span, attributes, error);
      return result;
    },
    (err: unknown) => {
      endSpan(span, undefined, err instanceof Error ? err.name : 'exception');
      throw err;
    },
  );
}

/** Ends a span, marking it failed with `errorType` when given. */
export function endSpan(span: Span, attributes?: Attributes, errorType?: string): void {
  if (attributes) span.setAttributes(attributes);
  if (errorType) {
    span.setAttribute(ATTR_ERROR_TYPE, errorType);
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

/** Server errors and failed exchanges are errors; a client's 4xx is not the server's failure. */
function failure(status: number, outcome: Outcome): string | undefined {
  if (status >= 500) return String(status);
  if (status === 0 && outcome !== 'success') return outcome;
  return undefined;
}

function serverAttributes(address: string): Attributes {
  const colon = address.lastIndexOf(':');
  const port = Number(address.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port)) return { [ATTR_SERVER_ADDRESS]: address };
  return { [ATTR_SERVER_ADDRESS]: address.slice(0, colon).replace(/^\[|\]$/g, ''), [ATTR_SERVER_PORT]: port };
}
