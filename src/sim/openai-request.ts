import { badRequest, ApiError } from './api-error.js';
import type { ChatMessage } from './prompt-template.js';

// Validation of OpenAI chat and completion request bodies, down to what the simulator uses. Sampling parameters
// (temperature, top_p, stop, ...) are accepted and ignored; anything malformed is a 400 naming the field.

export type ApiKind = 'chat' | 'completion';

export interface InferenceRequest {
  kind: ApiKind;
  /** Name as requested: the base model or a LoRA adapter. */
  model: string;
  lora: string | null;
  prompt: { messages: ChatMessage[] } | { text: string } | { tokens: number[] };
  /** max_completion_tokens or max_tokens, if the client set one. */
  maxTokens: number | undefined;
  stream: boolean;
  includeUsage: boolean;
  /** vLLM's P/D handshake (NixlConnector); null when absent. */
  kvTransferParams: Json | null;
  /** SGLang's P/D fields: the prefill server's bootstrap address and the room both requests share. */
  bootstrap: { host?: string; port?: number; room?: number };
}

export interface ModelCatalog {
  model: string;
  loras: ReadonlySet<string>;
}

type Json = Record<string, unknown>;

const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

function optionalBoolean(body: Json, key: string): boolean {
  const v = body[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') throw badRequest(`${key} must be a boolean`, key);
  return v;
}

function messageContent(v: unknown, i: number): string {
  if (v === undefined || v === null) return '';
  if (typeof v === 'string') return v;
  if (Array.isArray(v)) {
    return v
      .map((part, j) => {
        if (!isObject(part) || part.type !== 'text' || typeof part.text !== 'string') {
          throw badRequest(`messages[${i}].content[${j}] must be a text part`, 'messages');
        }
        return part.text;
      })
      .join('');
  }
  throw badRequest(`messages[${i}].content must be a string or an array of text parts`, 'messages');
}

function parseMessages(v: unknown): ChatMessage[] {
  if (!Array.isArray(v) || v.length === 0) throw badRequest('messages must be a non-empty array', 'messages');
  return v.map((m, i) => {
    if (!isObject(m)) throw badRequest(`messages[${i}] must be an object`, 'messages');
    if (typeof m.role !== 'string' || !/^[a-z_]{1,32}$/.test(m.role)) {
      throw badRequest(`messages[${i}].role must be a role name`, 'messages');
    }
    return { role: m.role, content: messageContent(m.content, i) };
  });
}

const isTokenList = (v: unknown): v is number[] =>
  Array.isArray(v) && v.length > 0 && v.every((t) => Number.isInteger(t) && t >= 0 && t <= 0xffffffff);

function parsePrompt(v: unknown): { text: string } | { tokens: number[] } {
  if (typeof v === 'string') return { text: v };
  if (isTokenList(v)) return { tokens: v };
  if (Array.isArray(v) && v.length === 1) {
    if (typeof v[0] === 'string') return { text: v[0] };
    if (isTokenList(v[0])) return { tokens: v[0] };
  }
  if (Array.isArray(v) && v.length > 1) throw badRequest('batched prompts are not supported; send one prompt', 'prompt');
  throw badRequest('prompt must be a string or an array of token ids', 'prompt');
}

function parseMaxTokens(body: Json): number | undefined {
  for (const key of ['max_completion_tokens', 'max_tokens']) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (!Number.isInteger(v) || (v as number) < 1) throw badRequest(`${key} must be a positive integer`, key);
    return v as number;
  }
  return undefined;
}

function parseKvTransferParams(body: Json): Json | null {
  const v = body.kv_transfer_params;
  if (v === undefined || v === null) return null;
  if (!isObject(v)) throw badRequest('kv_transfer_params must be an object', 'kv_transfer_params');
  return v;
}

function parseBootstrap(body: Json): InferenceRequest['bootstrap'] {
  const out: InferenceRequest['bootstrap'] = {};
  const { bootstrap_host: host, bootstrap_port: port, bootstrap_room: room } = body;
  if (host !== undefined && host !== null) {
    if (typeof host !== 'string' || host.length === 0) throw badRequest('bootstrap_host must be a host name or IP', 'bootstrap_host');
    out.host = host;
  }
  if (port !== undefined && port !== null) {
    if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) {
      throw badRequest('bootstrap_port must be a port number', 'bootstrap_port');
    }
    out.port = port as number;
  }
  if (room !== undefined && room !== null) {
    if (!Number.isSafeInteger(room) || (room as number) < 0) throw badRequest('bootstrap_room must be a non-negative integer', 'bootstrap_room');
    out.room = room as number;
  }
  return out;
}

export function parseInferenceRequest(kind: ApiKind, body: unknown, catalog: ModelCatalog): InferenceRequest {
  if (!isObject(body)) throw badRequest('request body must be a JSON object');
  const model = body.model ?? catalog.model;
  if (typeof model !== 'string') throw badRequest('model must be a string', 'model');
  const lora = catalog.loras.has(model) ? model : null;
  if (lora === null && model !== catalog.model) throw new ApiError(404, `The model \`${model}\` does not exist.`, 'model');
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw badRequest('only n=1 is supported', 'n');
  const stream = optionalBoolean(body, 'stream');
  let includeUsage = false;
  const so = body.stream_options;
  if (so !== undefined && so !== null) {
    if (!stream) throw badRequest('stream_options can only be set when stream is true', 'stream_options');
    if (!isObject(so)) throw badRequest('stream_options must be an object', 'stream_options');
    includeUsage = optionalBoolean(so, 'include_usage');
  }
  const prompt = kind === 'chat' ? { messages: parseMessages(body.messages) } : parsePrompt(body.prompt);
  return {
    kind,
    model,
    lora,
    prompt,
    maxTokens: parseMaxTokens(body),
    stream,
    includeUsage,
    kvTransferParams: parseKvTransferParams(body),
    bootstrap: parseBootstrap(body),
  };
}

export interface TokenLimits {
  maxModelLen: number;
  defaultMaxTokens: number;
  maxTokensCap: number;
}

/**
 * Output tokens for a request: the client's max_tokens or the default, capped by the CLI cap. A client value that
 * does not fit the context is an error (as in vLLM); the default and the cap shrink to fit.
 */
export function resolveMaxTokens(requested: number | undefined, promptLen: number, limits: TokenLimits): number {
  if (promptLen < 1) throw badRequest('the prompt is empty', 'prompt');
  const room = limits.maxModelLen - promptLen;
  if (room < 1) {
    throw badRequest(
      `This model's maximum context length is ${limits.maxModelLen} tokens. However, your request has ${promptLen} input tokens.`,
    );
  }
  if (requested !== undefined && requested > room) {
    throw badRequest(
      `This model's maximum context length is ${limits.maxModelLen} tokens. However, you requested ${promptLen + requested} tokens (${promptLen} in the messages, ${requested} in the completion).`,
      'max_tokens',
    );
  }
  return Math.min(requested ?? limits.defaultMaxTokens, limits.maxTokensCap, room);
}
