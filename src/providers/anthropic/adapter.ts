import type { ResponseTransform } from '../../core/exchange.js';
import type { HeaderMapLike } from '../../core/types.js';
import type { ApiError } from '../../openai/errors.js';
import type { AdaptedRequest, ProviderAdapter, ProviderRequest } from '../adapter.js';
import { anthropicMessagesPath } from '../paths.js';
import type { ResolvedProvider } from '../resolve.js';
import type { ProviderSettings } from '../settings.js';
import { SseParser } from '../sse.js';
import { toChatCompletion, toOpenAiError } from './message.js';
import { toMessagesRequest } from './request.js';
import { StreamTranslator } from './stream.js';

/** Anthropic through its Messages API, for OpenAI chat completion clients. */
export const anthropicAdapter: ProviderAdapter = {
  adapt(req: ProviderRequest, provider: ResolvedProvider, settings: ProviderSettings): AdaptedRequest | ApiError {
    if (req.parsed.kind !== 'chat') {
      return { status: 400, code: 'unsupported_for_provider', message: 'Anthropic providers serve /v1/chat/completions only' };
    }
    const translated = toMessagesRequest(req.parsed.json, req.model, settings.anthropic.defaultMaxTokens);
    if ('status' in translated) return translated;
    const options = req.parsed.json.stream_options as { include_usage?: unknown } | undefined;
    return {
      path: anthropicMessagesPath(provider.base),
      body: Buffer.from(JSON.stringify(translated.request)),
      headers: { 'anthropic-version': settings.anthropic.version },
      transform: new AnthropicResponse(req.parsed.model, options?.include_usage === true),
    };
  },
};

/** Largest non-streamed answer translated; a bigger one is replaced by an error rather than buffered. */
const MAX_BUFFERED = 32 * 1024 * 1024;

/**
 * Rewrites Anthropic's answer: event streams chunk by chunk, JSON messages and error bodies whole at the end (they
 * are held back until then: a JSON document cannot be translated in pieces).
 */
export class AnthropicResponse implements ResponseTransform {
  private mode: 'stream' | 'message' | 'error' = 'message';
  private status = 200;
  private parser: SseParser | undefined;
  private stream: StreamTranslator | undefined;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly created = Math.floor(Date.now() / 1000);

  constructor(
    private readonly clientModel: string,
    private readonly includeUsage: boolean,
  ) {}

  start(status: number, headers: HeaderMapLike): void {
    this.status = status;
    const sse = (headers.get('content-type') ?? '').includes('text/event-stream');
    this.mode = status >= 300 ? 'error' : sse ? 'stream' : 'message';
    if (this.mode === 'stream') {
      this.parser = new SseParser();
      this.stream = new StreamTranslator(this.clientModel, this.created, this.includeUsage);
    }
  }

  body(chunk: Buffer, end: boolean): Buffer {
    if (this.mode === 'stream') return Buffer.from(this.stream!.translate(this.parser!.push(chunk, end)));
    if (this.heldBytes + chunk.length <= MAX_BUFFERED) {
      this.held.push(chunk);
      this.heldBytes += chunk.length;
    } else {
      this.heldBytes = Infinity;
    }
    if (!end) return EMPTY;
    return Buffer.from(JSON.stringify(this.whole()));
  }

  private whole(): object {
    if (!Number.isFinite(this.heldBytes)) {
      return { error: { message: 'the provider answer was too large to translate', type: 'server_error', code: 'response_too_large', param: null } };
    }
    const text = Buffer.concat(this.held).toString('utf8');
    this.held = [];
    if (this.mode === 'error') return toOpenAiError(text, this.status);
    try {
      return toChatCompletion(JSON.parse(text) as Record<string, unknown>, this.clientModel, this.created);
    } catch {
      return toOpenAiError(text, 502);
    }
  }
}

const EMPTY = Buffer.alloc(0);
