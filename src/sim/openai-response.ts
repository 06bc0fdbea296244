import type { ApiKind } from './openai-request.js';

// OpenAI response bodies and stream chunks, shaped as vLLM emits them.

export interface ResponseContext {
  kind: ApiKind;
  id: string;
  created: number;
  model: string;
}

export interface Usage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details: { cached_tokens: number };
}

export function usage(promptTokens: number, completionTokens: number, cachedTokens: number): Usage {
  return {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
    prompt_tokens_details: { cached_tokens: cachedTokens },
  };
}

export function responseId(kind: ApiKind, n: number, seed: number): string {
  const suffix = `${seed.toString(16)}${n.toString(16).padStart(8, '0')}`;
  return kind === 'chat' ? `chatcmpl-${suffix}` : `cmpl-${suffix}`;
}

function envelope(ctx: ResponseContext, chunk: boolean): Record<string, unknown> {
  const object = ctx.kind === 'chat' ? (chunk ? 'chat.completion.chunk' : 'chat.completion') : 'text_completion';
  return { id: ctx.id, object, created: ctx.created, model: ctx.model };
}

/** The chat stream's opening chunk, announcing the assistant role. */
export function roleChunk(ctx: ResponseContext): object {
  return {
    ...envelope(ctx, true),
    choices: [{ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null }],
  };
}

export function textChunk(ctx: ResponseContext, text: string, finishReason: string | null): object {
  const choice =
    ctx.kind === 'chat'
      ? { index: 0, delta: { content: text }, logprobs: null, finish_reason: finishReason }
      : { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
  return { ...envelope(ctx, true), choices: [choice] };
}

/** The final chunk sent with stream_options.include_usage: no choices, just usage. */
export function usageChunk(ctx: ResponseContext, u: Usage): object {
  return { ...envelope(ctx, true), choices: [], usage: u };
}

export function fullResponse(ctx: ResponseContext, text: string, finishReason: string, u: Usage): object {
  const choice =
    ctx.kind === 'chat'
      ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: finishReason, stop_reason: null }
      : { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
  return { ...envelope(ctx, false), choices: [choice], usage: u };
}
