import type { Dimension } from './config.js';

// Response headers in OpenAI's naming. `-tokens` reports input (prompt) tokens, the budget checked before a request
// is sent; output tokens use `-output-tokens` (our extension, same format).

export interface DimensionReport {
  dim: Dimension;
  limit: number;
  remaining: number;
  resetMs: number;
}

const NAMES: Record<Dimension, { limit: string; remaining: string; reset: string }> = {
  requests: names('requests'),
  inputTokens: names('tokens'),
  outputTokens: names('output-tokens'),
};

function names(suffix: string) {
  return {
    limit: `x-ratelimit-limit-${suffix}`,
    remaining: `x-ratelimit-remaining-${suffix}`,
    reset: `x-ratelimit-reset-${suffix}`,
  };
}

export function rateLimitHeaders(reports: DimensionReport[], retryAfterMs?: number): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const r of reports) {
    const n = NAMES[r.dim];
    headers[n.limit] = String(r.limit);
    headers[n.remaining] = String(r.remaining);
    headers[n.reset] = formatDuration(r.resetMs);
  }
  if (retryAfterMs !== undefined) headers['retry-after'] = String(Math.max(1, Math.ceil(retryAfterMs / 1000)));
  return headers;
}

/** OpenAI's duration style: `250ms`, `1s`, `6m0s`, `1h2m3s`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.ceil(ms))}ms`;
  const total = Math.ceil(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
