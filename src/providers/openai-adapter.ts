import type { ResponseTransform } from '../core/exchange.js';
import type { HeaderMapLike } from '../core/types.js';
import type { AdaptedRequest, ProviderAdapter, ProviderRequest } from './adapter.js';
import { openAiPath } from './paths.js';
import type { ResolvedProvider } from './resolve.js';
import { SseParser, sseData } from './sse.js';

/**
 * OpenAI-compatible providers (OpenAI, DeepSeek, Gemini's and Hugging Face's OpenAI endpoints, ...): the request
 * passes through with the model renamed. A streamed chat or completion asks for usage
 * (`stream_options.include_usage`) so that the router can count output tokens; when the client did not ask for it,
 * the extra usage chunk is taken out of the stream again.
 */
export const openAiAdapter: ProviderAdapter = {
  adapt(req: ProviderRequest, provider: ResolvedProvider): AdaptedRequest {
    const { parsed } = req;
    const json: Record<string, unknown> = { ...parsed.json, model: req.model };
    let transform: ResponseTransform | undefined;
    if (parsed.stream && (parsed.kind === 'chat' || parsed.kind === 'completions') && !clientWantsUsage(parsed.json)) {
      const options = isObject(parsed.json.stream_options) ? parsed.json.stream_options : {};
      json.stream_options = { ...options, include_usage: true };
      transform = new UsageChunkFilter();
    }
    return {
      path: openAiPath(provider.base, req.path),
      body: Buffer.from(JSON.stringify(json)),
      headers: {},
      transform,
      modelRewrite: req.model !== parsed.model ? { client: parsed.model, upstream: req.model } : undefined,
    };
  },
};

function clientWantsUsage(json: Record<string, unknown>): boolean {
  return isObject(json.stream_options) && json.stream_options.include_usage === true;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops the usage-only chunk (`choices: []` with `usage`) from a successful event stream; anything else is untouched. */
export class UsageChunkFilter implements ResponseTransform {
  private parser: SseParser | undefined;

  start(status: number, headers: HeaderMapLike): void {
    const sse = (headers.get('content-type') ?? '').includes('text/event-stream');
    this.parser = status < 300 && sse ? new SseParser() : undefined;
  }

  body(chunk: Buffer, end: boolean): Buffer {
    if (!this.parser) return chunk;
    let out = '';
    for (const e of this.parser.push(chunk, end)) {
      if (isUsageOnly(e.data)) continue;
      out += sseData(e.data, e.event);
    }
    return Buffer.from(out);
  }
}

function isUsageOnly(data: string): boolean {
  if (!data.includes('"usage"')) return false;
  try {
    const event = JSON.parse(data) as { choices?: unknown; usage?: unknown };
    return Array.isArray(event.choices) && event.choices.length === 0 && isObject(event.usage);
  } catch {
    return false;
  }
}
