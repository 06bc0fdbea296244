import { RequestExchange, type ExchangeInit } from '../core/exchange.js';
import type { Decision, RouteDecision } from '../core/types.js';
import type { ApiError } from '../openai/errors.js';
import type { ParsedRequest } from '../openai/request.js';
import { picksTotal } from '../observability/metrics.js';
import type { ProviderAdapter } from './adapter.js';
import { anthropicAdapter } from './anthropic/adapter.js';
import { ProviderErrorGuard } from './error-guard.js';
import { providerHeaders } from './headers.js';
import { openAiAdapter } from './openai-adapter.js';
import type { OutlierDetector } from './outlier-detector.js';
import type { ResolvedProvider } from './resolve.js';
import type { ProviderSettings } from './settings.js';

const ADAPTERS: Record<string, ProviderAdapter> = { OpenAI: openAiAdapter, Anthropic: anthropicAdapter };

export interface ProviderDecisionInput {
  requestId: string;
  parsed: ParsedRequest;
  /** The client's path, query included. */
  path: string;
  provider: ResolvedProvider;
  settings: ProviderSettings;
  outlier?: OutlierDetector;
  /** The pipeline's part of the exchange: accounting, rate-limit reservation, labels. */
  exchange: Omit<ExchangeInit, 'requestId' | 'primary' | 'transform' | 'modelRewrite' | 'health'>;
  /** Extra headers for the upstream request (the request id). */
  setHeaders: Record<string, string>;
  /** Headers for the client's response (the rate-limit state). */
  clientHeaders?: Record<string, string>;
  fallback?: () => Promise<Decision>;
}

/**
 * The routing decision for an ExternalModelProvider target: the provider's address as the destination, `:authority`
 * and `:path` rewritten, the body translated for the provider's protocol (the model renamed to `spec.model`), its
 * credential from the Secret in place of the client's, and the response turned back into OpenAI's shape (error bodies
 * cleared of that credential, auth errors answered as 502).
 */
export function providerDecision(input: ProviderDecisionInput): RouteDecision | ApiError {
  const { provider, settings, parsed } = input;
  const spec = provider.resource.spec;
  const adapter = ADAPTERS[spec.providerType];
  if (!adapter) return { status: 500, code: 'provider_misconfigured', message: `unknown providerType "${spec.providerType}"` };
  const adapted = adapter.adapt({ parsed, path: input.path, model: spec.model ?? parsed.model }, provider, settings);
  if ('status' in adapted) return adapted;

  const headers = providerHeaders(provider, adapted.headers, adapted.path);
  const outlier = input.outlier;
  const exchange = new RequestExchange({
    ...input.exchange,
    requestId: input.requestId,
    transform: new ProviderErrorGuard(adapted.transform, provider.credential, settings.maxErrorBodyBytes),
    modelRewrite: adapted.modelRewrite,
    // Every attempt counts against the provider as a whole, whichever address it resolved to.
    health: outlier ? (_address, failed) => outlier.report(provider.key, failed) : undefined,
  });
  picksTotal.inc({ model_server: provider.key, endpoint: provider.address });
  return {
    kind: 'route',
    endpoints: [provider.address],
    setHeaders: { ...input.setHeaders, ...headers.set },
    removeHeaders: headers.remove,
    clientHeaders: input.clientHeaders,
    body: adapted.body,
    upstream: {
      scheme: 'https',
      timeoutMs: settings.timeoutMs,
      retryAttempts: settings.retry.attempts,
      retryIntervalMs: settings.retry.intervalMs,
      maxRetryIntervalMs: settings.retry.maxIntervalMs,
      retryOnRateLimit: true,
      baseUrl: provider.base.href,
      tls: { insecureSkipVerify: spec.insecureSkipVerify, ...(settings.extraCa !== undefined && { extraCa: settings.extraCa }) },
    },
    exchange,
    ...(input.fallback && { fallback: input.fallback }),
  };
}
