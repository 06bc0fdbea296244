// Anthropic Messages API response shapes → OpenAI chat completion shapes.

type Json = Record<string, unknown>;

export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Anthropic counts cached prompt tokens apart; OpenAI's prompt_tokens includes them. */
export function promptTokens(usage: Json | undefined): number {
  if (!usage) return 0;
  return count(usage.input_tokens) + count(usage.cache_creation_input_tokens) + count(usage.cache_read_input_tokens);
}

export function openAiUsage(prompt: number, completion: number): OpenAiUsage {
  return { prompt_tokens: prompt, completion_tokens: completion, total_tokens: prompt + completion };
}

export function finishReason(stopReason: unknown): string | null {
  switch (stopReason) {
    case undefined:
    case null:
      return null;
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default: // end_turn, stop_sequence, pause_turn
      return 'stop';
  }
}

/** A complete Message → `chat.completion`. Only text blocks carry over (tools are refused on the way in). */
export function toChatCompletion(message: Json, clientModel: string, created: number): Json {
  const blocks = Array.isArray(message.content) ? (message.content as Json[]) : [];
  const text = blocks
    .filter((b) => b?.type === 'text' && typeof b.text === 'string')
    .map((b) => b.text as string)
    .join('');
  const usage = message.usage as Json | undefined;
  return {
    id: typeof message.id === 'string' ? message.id : 'msg',
    object: 'chat.completion',
    created,
    model: clientModel,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: text, refusal: null },
        logprobs: null,
        finish_reason: finishReason(message.stop_reason) ?? 'stop',
      },
    ],
    usage: openAiUsage(promptTokens(usage), count(usage?.output_tokens)),
  };
}

const ERROR_TYPES: Record<string, string> = {
  invalid_request_error: 'invalid_request_error',
  authentication_error: 'authentication_error',
  permission_error: 'permission_error',
  not_found_error: 'invalid_request_error',
  request_too_large: 'invalid_request_error',
  rate_limit_error: 'rate_limit_error',
  api_error: 'server_error',
  overloaded_error: 'server_error',
};

/** `{"type":"error","error":{"type","message"}}` (or anything else) → OpenAI's `{"error":{"message","type","code"}}`. */
export function toOpenAiError(body: string, status: number): Json {
  let type = 'api_error';
  let message = `the provider answered HTTP ${status}`;
  try {
    const err = (JSON.parse(body) as Json).error as Json | undefined;
    if (typeof err?.type === 'string') type = err.type;
    if (typeof err?.message === 'string') message = err.message;
  } catch {
    // Not JSON (a proxy's HTML page, say): keep the generic message rather than echo it.
  }
  const openAiType = ERROR_TYPES[type] ?? (status >= 500 ? 'server_error' : 'invalid_request_error');
  return { error: { message, type: openAiType, code: type, param: null } };
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}
