import type { ApiError } from '../../openai/errors.js';

// OpenAI chat completion request → Anthropic Messages request. System and developer messages become `system`;
// consecutive messages of one role are merged (the Messages API alternates user and assistant); `max_tokens` is
// required there and defaulted here. Features with no faithful translation (tools, several choices) are refused
// with a 400 instead of being dropped silently.

type Json = Record<string, unknown>;
type Block = Json;

export function toMessagesRequest(chat: Json, model: string, defaultMaxTokens: number): { request: Json } | ApiError {
  if (!Array.isArray(chat.messages) || chat.messages.length === 0) return bad('"messages" must be a non-empty array');
  for (const field of ['tools', 'functions', 'tool_choice', 'function_call']) {
    if (chat[field] !== undefined && chat[field] !== null) return bad(`"${field}" is not supported for Anthropic providers`);
  }
  if (typeof chat.n === 'number' && chat.n !== 1) return bad('"n" other than 1 is not supported for Anthropic providers');

  const system: string[] = [];
  const messages: Array<{ role: 'user' | 'assistant'; content: Block[] }> = [];
  for (const [i, m] of chat.messages.entries()) {
    if (typeof m !== 'object' || m === null) return bad(`messages[${i}] must be an object`);
    const { role, content } = m as Json;
    if (role === 'system' || role === 'developer') {
      const text = textOf(content);
      if (text === undefined) return bad(`messages[${i}].content of a ${role} message must be text`);
      system.push(text);
      continue;
    }
    if (role !== 'user' && role !== 'assistant') {
      return bad(`messages[${i}]: role "${String(role)}" is not supported for Anthropic providers`);
    }
    const blocks = toBlocks(content, i);
    if (!Array.isArray(blocks)) return blocks;
    const last = messages[messages.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  }
  if (messages.length === 0) return bad('at least one user or assistant message is required');

  const out: Json = {
    model,
    messages: messages.map((m) => ({ role: m.role, content: simplify(m.content) })),
    max_tokens: positiveInt(chat.max_completion_tokens) ?? positiveInt(chat.max_tokens) ?? defaultMaxTokens,
  };
  if (system.length > 0) out.system = system.join('\n\n');
  // OpenAI's temperature goes to 2, Anthropic's to 1.
  if (typeof chat.temperature === 'number') out.temperature = Math.min(Math.max(chat.temperature, 0), 1);
  if (typeof chat.top_p === 'number') out.top_p = chat.top_p;
  if (typeof chat.top_k === 'number') out.top_k = chat.top_k;
  const stop = typeof chat.stop === 'string' ? [chat.stop] : Array.isArray(chat.stop) ? chat.stop.filter((s) => typeof s === 'string' && s !== '') : [];
  if (stop.length > 0) out.stop_sequences = stop;
  if (chat.stream === true) out.stream = true;
  if (typeof chat.user === 'string' && chat.user !== '') out.metadata = { user_id: chat.user };
  return { request: out };
}

function toBlocks(content: unknown, i: number): Block[] | ApiError {
  if (typeof content === 'string') return [{ type: 'text', text: content }];
  if (!Array.isArray(content)) return bad(`messages[${i}].content must be a string or an array of parts`);
  const blocks: Block[] = [];
  for (const part of content) {
    const p = (typeof part === 'object' && part !== null ? part : {}) as Json;
    if (p.type === 'text' && typeof p.text === 'string') {
      blocks.push({ type: 'text', text: p.text });
    } else if (p.type === 'image_url') {
      const url = typeof p.image_url === 'string' ? p.image_url : (p.image_url as Json | undefined)?.url;
      const image = typeof url === 'string' ? imageBlock(url) : undefined;
      if (!image) return bad(`messages[${i}]: image_url must be an https URL or a base64 data URL`);
      blocks.push(image);
    } else {
      return bad(`messages[${i}]: content part "${String(p.type)}" is not supported for Anthropic providers`);
    }
  }
  return blocks;
}

function imageBlock(url: string): Block | undefined {
  const data = /^data:(image\/[a-z+.-]+);base64,(.+)$/i.exec(url);
  if (data) return { type: 'image', source: { type: 'base64', media_type: data[1]!.toLowerCase(), data: data[2] } };
  if (/^https?:\/\//i.test(url)) return { type: 'image', source: { type: 'url', url } };
  return undefined;
}

/** A message made of a single text block is sent as a plain string. */
function simplify(blocks: Block[]): string | Block[] {
  return blocks.length === 1 && blocks[0]!.type === 'text' ? (blocks[0]!.text as string) : blocks;
}

function textOf(content: unknown): string | undefined {
  if (typeof content === 'string') return content;
  if (!Array.isArray(content)) return undefined;
  const texts: string[] = [];
  for (const part of content) {
    const p = part as Json | null;
    if (p?.type !== 'text' || typeof p.text !== 'string') return undefined;
    texts.push(p.text);
  }
  return texts.join('');
}

function positiveInt(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : undefined;
}

function bad(message: string): ApiError {
  return { status: 400, code: 'unsupported_for_provider', message };
}
