import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { logger } from '../observability/logger.js';
import { ApiError, badRequest } from './api-error.js';
import type { Engine } from './engine.js';
import { FAULT_MODES, type FaultMode, type FaultScope, type Faults, type RouteClass } from './faults.js';
import type { EngineMetrics } from './metrics.js';
import { parseInferenceRequest, resolveMaxTokens, type ApiKind, type InferenceRequest } from './openai-request.js';
import {
  fullResponse,
  responseId,
  roleChunk,
  textChunk,
  usage,
  usageChunk,
  type ResponseContext,
} from './openai-response.js';
import type { SimOptions } from './options.js';
import { renderChat } from './prompt-template.js';
import type { SimRequest } from './sequence.js';
import { NO_ROLE, type PdPhase, type PdRole } from './pd-role.js';
import { tokenize } from './tokenizer.js';

// The simulator's HTTP front: OpenAI-compatible inference (JSON and SSE), /v1/models, /health, /metrics, and
// /admin/* for tests. A client that disconnects before its answer is complete has its request aborted in the
// engine, which frees its KV blocks and batch slot at once.

const MAX_BODY_BYTES = 32 * 1024 * 1024;
const log = logger.child({ component: 'sim' });

export interface SimServerDeps {
  engine: Engine;
  metrics: EngineMetrics;
  faults: Faults;
  options: SimOptions;
  /** The simulator's part in prefill/decode disaggregation; none by default. */
  pd?: PdRole;
}

const INFERENCE_PATHS: Record<string, ApiKind> = {
  '/v1/chat/completions': 'chat',
  '/v1/completions': 'completion',
};

function routeClass(path: string): RouteClass | undefined {
  if (path in INFERENCE_PATHS || path === '/v1/models') return 'inference';
  if (path === '/health') return 'health';
  if (path === '/metrics') return 'metrics';
  return undefined;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
  res.end(data);
}

function sendError(res: ServerResponse, err: ApiError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, err.status, err.body());
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        // Stop buffering and discard the rest; the 413 goes out once the client is done sending.
        req.removeAllListeners('data');
        req.resume();
        reject(new ApiError(413, `request body exceeds ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = await readBody(req);
  try {
    return JSON.parse(raw.toString('utf8'));
  } catch {
    throw badRequest('request body is not valid JSON');
  }
}

export function createSimServer(deps: SimServerDeps): Server {
  const { engine, metrics, faults, options } = deps;
  const pd = deps.pd ?? NO_ROLE;
  const catalog = { model: options.model, loras: new Set(options.loras) };
  let responses = 0;

  function promptTokens(r: InferenceRequest): number[] {
    if ('messages' in r.prompt) return tokenize(renderChat(r.prompt.messages));
    if ('text' in r.prompt) return tokenize(r.prompt.text);
    return r.prompt.tokens;
  }

  async function inference(kind: ApiKind, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const parsed = parseInferenceRequest(kind, await readJson(req), catalog);
    const tokens = promptTokens(parsed);
    const maxTokens = resolveMaxTokens(parsed.maxTokens, tokens.length, options);
    if (res.destroyed) return; // the client left while we read or tokenized
    const gone = new AbortController();
    res.on('close', () => gone.abort());
    let phase: PdPhase;
    try {
      phase = await pd.begin(parsed, tokens.length, gone.signal);
    } catch (err) {
      if (gone.signal.aborted) return;
      throw err;
    }
    if (res.destroyed) {
      phase.abandoned?.();
      return;
    }
    const ctx: ResponseContext = {
      kind,
      id: responseId(kind, ++responses, options.seed),
      created: Math.floor(Date.now() / 1000),
      model: parsed.model,
    };
    let text = '';
    let started = false;
    let done = false;
    const write = (obj: object): void => {
      res.write(`data: ${JSON.stringify(obj)}\n\n`);
    };
    const sink = {
      onToken(piece: string, last: boolean) {
        if (!parsed.stream) {
          text += piece;
          return;
        }
        if (!started && kind === 'chat') write(roleChunk(ctx));
        started = true;
        write(textChunk(ctx, piece, last ? 'length' : null));
      },
      onFinish(r: SimRequest) {
        done = true;
        const u = usage(r.promptLen, r.numOutput, r.cachedPromptTokens);
        const extra = phase.finished?.(r);
        if (!parsed.stream) {
          sendJson(res, 200, { ...fullResponse(ctx, text, 'length', u), ...extra });
          return;
        }
        if (parsed.includeUsage) write(usageChunk(ctx, u));
        res.end('data: [DONE]\n\n');
      },
    };
    if (parsed.stream) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      res.flushHeaders();
    }
    let simReq: SimRequest;
    try {
      simReq = engine.submit({
        promptTokens: tokens,
        maxTokens,
        lora: parsed.lora,
        sink,
        remotePrefixTokens: phase.remotePrefixTokens,
        holdKv: phase.holdKv,
      });
    } catch (err) {
      phase.abandoned?.();
      throw err;
    }
    res.on('close', () => {
      if (done) return;
      engine.abort(simReq);
      phase.abandoned?.();
    });
  }

  function models(res: ServerResponse): void {
    const created = Math.floor(Date.now() / 1000);
    const owner = options.engine;
    const card = (id: string, parent: string | null): object => ({
      id,
      object: 'model',
      created,
      owned_by: owner,
      root: id,
      parent,
      max_model_len: options.maxModelLen,
    });
    sendJson(res, 200, {
      object: 'list',
      data: [card(options.model, null), ...options.loras.map((name) => card(name, options.model))],
    });
  }

  async function admin(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (path === '/admin/state' && req.method === 'GET') {
      sendJson(res, 200, { engine: engine.snapshot(), faults: faults.state() });
      return;
    }
    if (path !== '/admin/fail') throw new ApiError(404, `no route ${path}`);
    if (req.method !== 'POST') throw new ApiError(405, 'use POST');
    const body = await readJson(req);
    const mode = (body as { mode?: unknown } | null)?.mode;
    const scope = (body as { scope?: unknown } | null)?.scope ?? 'all';
    if (!FAULT_MODES.includes(mode as FaultMode)) throw badRequest(`mode must be one of ${FAULT_MODES.join(', ')}`, 'mode');
    if (scope !== 'all' && scope !== 'inference') throw badRequest('scope must be all or inference', 'scope');
    faults.set(mode as FaultMode, scope as FaultScope);
    sendJson(res, 200, faults.state());
  }

  async function sideChannel(path: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new ApiError(405, 'use POST');
    const out = pd.sideChannel(path, await readJson(req));
    if (!out) throw new ApiError(404, `no route ${path}`);
    sendJson(res, out.status, out.body);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://sim').pathname;
    if (path.startsWith('/admin/')) return admin(path, req, res);
    if (path.startsWith('/sim/')) return sideChannel(path, req, res);
    const route = routeClass(path);
    if (route === undefined) throw new ApiError(404, `no route ${path}`);
    const fault = faults.decide(route);
    if (fault === 'reset') {
      req.socket.resetAndDestroy();
      return;
    }
    if (fault === 'hang') return; // never answer; the connection stays open until the client or close() ends it
    if (fault === '503') throw new ApiError(503, 'service unavailable (injected fault)');

    const kind = INFERENCE_PATHS[path];
    const method = kind === undefined ? 'GET' : 'POST';
    if (req.method !== method) throw new ApiError(405, `use ${method} for ${path}`);
    if (kind !== undefined) return inference(kind, req, res);
    if (path === '/v1/models') return models(res);
    if (path === '/health') {
      res.writeHead(200, { 'content-length': 0 });
      res.end();
      return;
    }
    const text = metrics.render(engine.snapshot());
    res.writeHead(200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(text);
  }

  return createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (err instanceof ApiError) {
        sendError(res, err);
        return;
      }
      log.warn({ err: err instanceof Error ? err.message : String(err) }, 'simulator request failed');
      sendError(res, new ApiError(500, 'internal simulator error'));
    });
  });
}
