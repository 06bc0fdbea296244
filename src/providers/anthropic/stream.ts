import type { SseEvent } from '../sse.js';
import { sseData } from '../sse.js';
import { finishReason, openAiUsage, promptTokens, toOpenAiError } from './message.js';

type Json = Record<string, unknown>;

/**
 * Anthropic streaming events → OpenAI `chat.completion.chunk` events: `message_start` opens the assistant turn,
 * `content_block_delta` (text) carries the text, `message_delta` the finish reason and output count, and
 * `message_stop` ends with the usage chunk (when the client asked for it) and `data: [DONE]`. An `error` event
 * becomes an OpenAI error event, which OpenAI SDKs raise.
 */
export class StreamTranslator {
  private id = 'msg';
  private prompt = 0;
  private completion = 0;
  private finish: string | null = null;
  private done = false;

  constructor(
    private readonly clientModel: string,
    private readonly created: number,
    private readonly includeUsage: boolean,
  ) {}

  translate(events: SseEvent[]): string {
    let out = '';
    for (const e of events) {
      if (this.done) break;
      out += this.one(e);
    }
    return out;
  }

  private one(e: SseEvent): string {
    let ev: Json;
    try {
      ev = JSON.parse(e.data) as Json;
    } catch {
      return '';
    }
    switch (ev.type ?? e.event) {
      case 'message_start': {
        const message = (ev.message ?? {}) as Json;
        if (typeof message.id === 'string') this.id = message.id;
        const usage = message.usage as Json | undefined;
        this.prompt = promptTokens(usage);
        this.completion = count(usage?.output_tokens);
        return this.chunk({ role: 'assistant', content: '' });
      }
      case 'content_block_start': {
        const block = ev.content_block as Json | undefined;
        return block?.type === 'text' && typeof block.text === 'string' && block.text !== '' ? this.chunk({ content: block.text }) : '';
      }
      case 'content_block_delta': {
        const delta = ev.delta as Json | undefined;
        return delta?.type === 'text_delta' && typeof delta.text === 'string' ? this.chunk({ content: delta.text }) : '';
      }
      case 'message_delta': {
        const usage = ev.usage as Json | undefined;
        if (usage?.output_tokens !== undefined) this.completion = count(usage.output_tokens);
        if (usage?.input_tokens !== undefined) this.prompt = promptTokens(usage);
        this.finish = finishReason((ev.delta as Json | undefined)?.stop_reason) ?? 'stop';
        return this.chunk({}, this.finish);
      }
      case 'message_stop': {
        this.done = true;
        const usage = this.includeUsage ? sseData({ ...this.head(), choices: [], usage: openAiUsage(this.prompt, this.completion) }) : '';
        return usage + sseData('[DONE]');
      }
      case 'error': {
        this.done = true;
        return sseData(toOpenAiError(JSON.stringify(ev), 500));
      }
      default: // ping, content_block_stop, and event types added later
        return '';
    }
  }

  private head(): Json {
    return { id: this.id, object: 'chat.completion.chunk', created: this.created, model: this.clientModel };
  }

  private chunk(delta: Json, finish: string | null = null): string {
    return sseData({ ...this.head(), choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] });
  }
}

function count(v: unknown): number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0;
}
