// HTTPS servers that behave like the public providers' APIs, as documented: OpenAI's chat completions (Bearer key,
// `{"error":{...}}` bodies, `data:` chunks, an optional usage chunk, `data: [DONE]`) and Anthropic's Messages API
// (`x-api-key` and `anthropic-version` headers, required `max_tokens`, `{"type":"error","error":{...}}` bodies, named
// SSE events message_start … message_stop). Each records what it received.
import { createServer, type Server } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CertificatePair } from '../../../src/frontends/extproc/self-signed-cert.js';

export interface Received {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  json: Record<string, any>;
}

export type Behaviour = (req: Received, res: ServerResponse) => void;

export class FakeProvider {
  readonly received: Received[] = [];
  /** Replaces the documented behaviour for the next requests (errors, delays). */
  override: Behaviour | undefined;
  private readonly server: Server;

  private constructor(
    cert: CertificatePair,
    private readonly api: Behaviour,
  ) {
    this.server = createServer({ cert: cert.cert, key: cert.key }, (req, res) => this.onRequest(req, res));
  }

  static async start(kind: 'openai' | 'anthropic', cert: CertificatePair, key: string, host = '127.0.0.1'): Promise<FakeProvider> {
    const p = new FakeProvider(cert, kind === 'openai' ? openAiApi(key) : anthropicApi(key));
    await new Promise<void>((resolve, reject) => {
      p.server.once('error', reject);
      p.server.listen(0, host, () => resolve());
    });
    return p;
  }

  get port(): number {
    return (this.server.address() as AddressInfo).port;
  }

  origin(): string {
    return `https://127.0.0.1:${this.port}`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      let json: Record<string, any> = {};
      try {
        json = JSON.parse(Buffer.concat(parts).toString('utf8'));
      } catch {
        // the API answers 400 below
      }
      const r: Received = { method: req.method!, path: req.url!, headers: req.headers, json };
      this.received.push(r);
      (this.override ?? this.api)(r, res);
    });
  }
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** The words the fake models answer with, one streamed delta (and one output token) each. */
export const REPLY_WORDS = ['Hello', ' from', ' the', ' provider'];

function openAiApi(key: string): Behaviour {
  return (req, res) => {
    const error = (status: number, message: string, type: string, code: string | null) =>
      sendJson(res, status, { error: { message, type, param: null, code } });
    if (req.headers.authorization !== `Bearer ${key}`) return error(401, 'Incorrect API key provided.', 'invalid_request_error', 'invalid_api_key');
    if (req.method !== 'POST' || req.path !== '/v1/chat/completions') return error(404, `Unknown request URL: ${req.method} ${req.path}`, 'invalid_request_error', 'unknown_url');
    const { model, messages, stream } = req.json;
    if (typeof model !== 'string' || !Array.isArray(messages)) return error(400, 'model and messages are required', 'invalid_request_error', null);
    const id = 'chatcmpl-fake';
    const created = 1_700_000_000;
    const usage = { prompt_tokens: 9, completion_tokens: REPLY_WORDS.length, total_tokens: 9 + REPLY_WORDS.length };
    if (!stream) {
      return sendJson(res, 200, {
        id,
        object: 'chat.completion',
        created,
        model,
        choices: [{ index: 0, message: { role: 'assistant', content: REPLY_WORDS.join('') }, logprobs: null, finish_reason: 'stop' }],
        usage,
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = (delta: object, finish: string | null) =>
      `data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
    res.write(chunk({ role: 'assistant', content: '' }, null));
    for (const w of REPLY_WORDS) res.write(chunk({ content: w }, null));
    res.write(chunk({}, 'stop'));
    if (req.json.stream_options?.include_usage === true) {
      res.write(`data: ${JSON.stringify({ id, object: 'chat.completion.chunk', created, model, choices: [], usage })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  };
}

function anthropicApi(key: string): Behaviour {
  return (req, res) => {
    const error = (status: number, type: string, message: string) => sendJson(res, status, { type: 'error', error: { type, message } });
    if (req.headers['x-api-key'] !== key) return error(401, 'authentication_error', 'invalid x-api-key');
    if (!req.headers['anthropic-version']) return error(400, 'invalid_request_error', 'anthropic-version: header is required');
    if (req.method !== 'POST' || req.path !== '/v1/messages') return error(404, 'not_found_error', 'Not Found');
    const { model, messages, max_tokens, stream } = req.json;
    if (typeof max_tokens !== 'number') return error(400, 'invalid_request_error', 'max_tokens: Field required');
    if (!Array.isArray(messages) || messages.some((m: { role?: string }) => m.role !== 'user' && m.role !== 'assistant')) {
      return error(400, 'invalid_request_error', 'messages: roles must be user or assistant');
    }
    const id = 'msg_fake01';
    const inputTokens = 11;
    if (!stream) {
      return sendJson(res, 200, {
        id,
        type: 'message',
        role: 'assistant',
        model,
        content: [{ type: 'text', text: REPLY_WORDS.join('') }],
        stop_reason: 'end_turn',
        stop_sequence: null,
        usage: { input_tokens: inputTokens, output_tokens: REPLY_WORDS.length },
      });
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const event = (name: string, data: object) => res.write(`event: ${name}\ndata: ${JSON.stringify({ type: name, ...data })}\n\n`);
    event('message_start', {
      message: { id, type: 'message', role: 'assistant', model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: inputTokens, output_tokens: 1 } },
    });
    event('content_block_start', { index: 0, content_block: { type: 'text', text: '' } });
    event('ping', {});
    for (const w of REPLY_WORDS) event('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } });
    event('content_block_stop', { index: 0 });
    event('message_delta', { delta: { stop_reason: 'end_turn', stop_sequence: null }, usage: { output_tokens: REPLY_WORDS.length } });
    event('message_stop', {});
    res.end();
  };
}

/** OpenAI's wording for a rejected key: it quotes the key it received, masked. */
const masked = (key: string) => `${key.slice(0, 7)}${'*'.repeat(12)}${key.slice(-4)}`;
export const echoKey401 = (req: Pick<Received, 'headers'>) => ({
  error: { message: `Incorrect API key provided: ${masked(String(req.headers.authorization).slice(7))}.`, type: 'invalid_request_error', param: null, code: 'invalid_api_key' },
});
/** A provider that quotes the whole credential header in a 400 (a debugging proxy in front of it, say). */
export const echoKey400 = (req: Pick<Received, 'headers'>) => ({
  error: { message: `bad request; received authorization "${req.headers.authorization}" and key ${req.headers['x-api-key'] ?? ''}`, type: 'invalid_request_error', param: null, code: null },
});
