import type { ApiError } from './errors.js';
import { nestsDeeperThan } from './json-depth.js';

export type ApiKind = 'chat' | 'completions' | 'embeddings' | 'other';

export interface ParsedRequest {
  kind: ApiKind;
  json: Record<string, unknown>;
  model: string;
  stream: boolean;
  /** Upper bound of output tokens the client asked for, when it said. */
  maxTokens?: number;
  user?: string;
  /** Prompt text in the order the engine sees it; chat messages rendered with role markers. */
  promptText: string;
}

/** API family by path suffix, ignoring the query string and any prefix such as `/openai`. */
export function apiKind(path: string): ApiKind {
  const q = path.indexOf('?');
  const p = q < 0 ? path : path.slice(0, q);
  if (p.endsWith('/chat/completions')) return 'chat';
  if (p.endsWith('/completions')) return 'completions';
  if (p.endsWith('/embeddings')) return 'embeddings';
  return 'other';
}

/** Default of `router.maxJsonDepth`: far beyond any OpenAI request (tool schemas included). */
export const DEFAULT_MAX_JSON_DEPTH = 128;

/** Parses an OpenAI-style JSON body; returns an ApiError (400) for anything the router cannot route. */
export function parseRequest(path: string, body: Buffer, maxDepth = DEFAULT_MAX_JSON_DEPTH): ParsedRequest | ApiError {
  if (body.length === 0) return bad('request body is empty; a JSON object with "model" is required', 'missing_body');
  if (nestsDeeperThan(body, maxDepth)) return bad(`request body nests deeper than ${maxDepth} levels`, 'invalid_json');
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return bad('request body is not valid JSON', 'invalid_json');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    return bad('request body must be a JSON object', 'invalid_json');
  }
  const obj = json as Record<string, unknown>;
  if (typeof obj.model !== 'string' || obj.model.trim() === '') {
    return bad('"model" is required and must be a non-empty string', 'missing_model');
  }
  const kind = apiKind(path);
  const maxRaw = obj.max_completion_tokens ?? obj.max_tokens;
  const maxTokens = typeof maxRaw === 'number' && Number.isFinite(maxRaw) && maxRaw >= 0 ? maxRaw : undefined;
  return {
    kind,
    json: obj,
    model: obj.model,
    stream: obj.stream === true,
    maxTokens,
    user: typeof obj.user === 'string' ? obj.user : undefined,
    promptText: renderPrompt(kind, obj),
  };
}

function renderPrompt(kind: ApiKind, obj: Record<string, unknown>): string {
  if (kind === 'chat' || Array.isArray(obj.messages)) {
    const messages = Array.isArray(obj.messages) ? obj.messages : [];
    let out = '';
    for (const m of messages) {
      if (typeof m !== 'object' || m === null) continue;
      const msg = m as Record<string, unknown>;
      out += `<|${String(msg.role ?? 'user')}|>\n${contentText(msg.content)}\n`;
    }
    return out;
  }
  const src = obj.prompt ?? obj.input;
  if (typeof src === 'string') return src;
  if (Array.isArray(src)) return src.filter((s) => typeof s === 'string').join('\n');
  return '';
}

/** Message content is a string or a list of parts; only text parts matter for prefix affinity and token counts. */
function contentText(content: unknown): string {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return '';
  let out = '';
  for (const part of content) {
    if (typeof part === 'object' && part !== null && typeof (part as { text?: unknown }).text === 'string') {
      out += (part as { text: string }).text;
    }
  }
  return out;
}

function bad(message: string, code: string): ApiError {
  return { status: 400, message, code };
}
