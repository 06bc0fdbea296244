import type { ResponseTransform } from '../core/exchange.js';
import type { ApiError } from '../openai/errors.js';
import type { ParsedRequest } from '../openai/request.js';
import type { ProviderSettings } from './settings.js';
import type { ResolvedProvider } from './resolve.js';

/** The client's OpenAI-style request, to be sent to a provider. */
export interface ProviderRequest {
  parsed: ParsedRequest;
  /** The client's path, query included. */
  path: string;
  /** The model name the provider is asked for (`spec.model`, else the client's). */
  model: string;
}

/** What a protocol adapter makes of a request: where it goes, what it carries, and how the answer comes back. */
export interface AdaptedRequest {
  /** Upstream `:path`. */
  path: string;
  body: Buffer;
  /** Headers the provider's protocol requires (its own `headers` may override them). */
  headers: Record<string, string>;
  /** Turns the provider's response into what the OpenAI client expects. */
  transform?: ResponseTransform;
  /** Set when the response carries the provider's model name, to be rewritten back to the client's. */
  modelRewrite?: { client: string; upstream: string };
}

export interface ProviderAdapter {
  adapt(req: ProviderRequest, provider: ResolvedProvider, settings: ProviderSettings): AdaptedRequest | ApiError;
}
