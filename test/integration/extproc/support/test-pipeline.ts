import type {
  Decision,
  Exchange,
  HeaderMapLike,
  InboundRequest,
  Outcome,
  Pipeline,
} from '../../../../src/core/types.js';

// A small pipeline that behaves like the real one where the front door can tell: it reads the model from
// the JSON body (400 when missing), honours the subset (503 when nothing is eligible), picks the least
// loaded endpoint with the others as ordered fallbacks, rewrites aliased model names in the body (and back
// in response bodies) and tracks in-flight counts released by `finish`.

export class RecordingExchange implements Exchange {
  readonly servedCalls: string[] = [];
  readonly responseHeaderCalls: { status: number; headers: HeaderMapLike }[] = [];
  readonly bodyCalls: { chunk: Buffer; endOfStream: boolean }[] = [];
  readonly finishes: Outcome[] = [];
  dispatches = 0;

  constructor(
    readonly requestId: string,
    private readonly onFinish: () => void,
    private readonly backRewrite?: { from: string; to: string },
  ) {}

  dispatched(): void {
    this.dispatches++;
  }

  served(address: string): void {
    this.servedCalls.push(address);
  }

  responseHeaders(status: number, headers: HeaderMapLike): void {
    this.responseHeaderCalls.push({ status, headers });
  }

  responseBody(chunk: Buffer, endOfStream: boolean): Buffer {
    this.bodyCalls.push({ chunk: Buffer.from(chunk), endOfStream });
    if (!this.backRewrite) return chunk;
    const text = chunk.toString('utf8');
    const rewritten = text.split(`"model":"${this.backRewrite.from}"`).join(`"model":"${this.backRewrite.to}"`);
    return rewritten === text ? chunk : Buffer.from(rewritten);
  }

  finish(outcome: Outcome): void {
    this.finishes.push(outcome);
    if (this.finishes.length === 1) this.onFinish();
  }
}

export class TestPipeline implements Pipeline {
  endpoints = ['10.0.0.1:8000', '10.0.0.2:8000', '10.0.0.3:8000'];
  /** Client-facing model name → real model name (the body is rewritten). */
  aliases: Record<string, string> = { 'alias-model': 'real-model' };
  delayMs = 0;
  throwOnModel: string | undefined = 'explode';
  readonly requests: InboundRequest[] = [];
  readonly exchanges: RecordingExchange[] = [];
  readonly load = new Map<string, number>();

  async handle(req: InboundRequest): Promise<Decision> {
    this.requests.push(req);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    const requestId = req.headers.get('x-request-id') ?? 'missing';
    if (req.method === 'GET' || req.path.startsWith('/v1/models')) return this.route(req, requestId);

    let parsed: unknown;
    try {
      parsed = JSON.parse(req.body.toString('utf8'));
    } catch {
      return badRequest('request body is not valid JSON');
    }
    const model = (parsed as { model?: unknown }).model;
    if (typeof model !== 'string' || model.length === 0) return badRequest('model field is required');
    if (model === this.throwOnModel) throw new Error('pipeline exploded');
    const target = this.aliases[model];
    const body = target === undefined ? undefined : Buffer.from(JSON.stringify({ ...(parsed as object), model: target }));
    return this.route(req, requestId, body, target === undefined ? undefined : { from: target, to: model });
  }

  private route(req: InboundRequest, requestId: string, body?: Buffer, backRewrite?: { from: string; to: string }): Decision {
    const eligible = req.subset
      ? this.endpoints.filter((e) => req.subset!.includes(e) || req.subset!.includes(e.split(':')[0]!))
      : this.endpoints;
    if (eligible.length === 0) {
      return {
        kind: 'reject',
        status: 503,
        headers: { 'content-type': 'application/json' },
        body: Buffer.from(JSON.stringify({ error: { message: 'no eligible endpoint', type: 'server_error', code: 503 } })),
      };
    }
    const ranked = [...eligible].sort((a, b) => (this.load.get(a) ?? 0) - (this.load.get(b) ?? 0));
    const primary = ranked[0]!;
    this.load.set(primary, (this.load.get(primary) ?? 0) + 1);
    const exchange = new RecordingExchange(
      requestId,
      () => this.load.set(primary, (this.load.get(primary) ?? 1) - 1),
      backRewrite,
    );
    this.exchanges.push(exchange);
    return {
      kind: 'route',
      endpoints: ranked,
      setHeaders: { 'x-kthena-model-server': 'test-server' },
      removeHeaders: ['x-llm-d-model-name-rewrite'],
      ...(body !== undefined && { body }),
      upstream: { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 0 },
      exchange,
    };
  }

  inFlight(): number {
    let total = 0;
    for (const n of this.load.values()) total += n;
    return total;
  }
}

function badRequest(message: string): Decision {
  return {
    kind: 'reject',
    status: 400,
    headers: { 'content-type': 'application/json' },
    body: Buffer.from(
      JSON.stringify({ error: { message: `inference error: BadRequest - ${message}`, type: 'invalid_request_error', code: 400 } }),
    ),
  };
}

/** Polls until `check` holds or `timeoutMs` passes. */
export async function waitFor(check: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
