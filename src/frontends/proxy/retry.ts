import type { UpstreamPolicy } from '../../core/types.js';

// When the proxy tries another endpoint. Nothing has been sent to the client when these are asked: once the first
// response byte is on its way, a failure can only end the stream.
//
// With a retry policy (ModelServer.trafficPolicy.retry.attempts = N), up to N extra attempts follow any failure
// before a response (refused, reset, closed, connect timeout) and any 5xx response, walking the ranked endpoints and
// wrapping around. Without one, the proxy still fails over once to the next endpoint when the connection could not
// be made at all: the pod never saw the request, so trying elsewhere is always safe; 5xx responses are returned.
//
// External providers add 429 to the retried answers (`retryOnRateLimit`) and back off exponentially
// (`maxRetryIntervalMs`), never waiting less than a Retry-After within that cap. A failed certificate check is never
// retried: it fails the same way every time.

const CONNECT_ERRORS = new Set([
  'ECONNREFUSED',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EHOSTDOWN',
  'EADDRNOTAVAIL',
  'ENOTFOUND',
  'EAI_AGAIN',
  'UND_ERR_CONNECT_TIMEOUT',
]);

export function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | undefined;
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The upstream's certificate was refused: retrying cannot help. */
export function isCertificateError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/.test(code);
}

/** Retry-After in milliseconds (delay-seconds or an HTTP date); undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const text = Array.isArray(value) ? value[0] : value;
  if (!text) return undefined;
  if (/^\d+$/.test(text.trim())) return Number(text.trim()) * 1000;
  const date = Date.parse(text);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** The request never reached the upstream: the TCP (or TLS) connection was not established. */
export function isConnectError(err: unknown): boolean {
  const code = errorCode(err);
  return code !== undefined && CONNECT_ERRORS.has(code);
}

export class RetryPlan {
  private readonly extraAttempts: number;

  constructor(
    private readonly policy: UpstreamPolicy,
    private readonly endpointCount: number,
  ) {
    this.extraAttempts = policy.retryAttempts > 0 ? policy.retryAttempts : endpointCount > 1 ? 1 : 0;
  }

  /** Index into the ranked endpoints for the given 0-based attempt. */
  endpointIndex(attempt: number): number {
    return attempt % this.endpointCount;
  }

  /** The wait before the retry that follows the 0-based `attempt`, at least `retryAfter` within the backoff cap. */
  delayMs(attempt: number, retryAfter?: number): number {
    const { retryIntervalMs: base, maxRetryIntervalMs: cap } = this.policy;
    if (cap === undefined) return base;
    const backoff = Math.min(base * 2 ** attempt, cap);
    return Math.min(Math.max(backoff, retryAfter ?? 0), cap);
  }

  /** Whether a failed attempt (no response) may be followed by another. */
  retryAfterError(err: unknown, attempt: number): boolean {
    if (attempt >= this.extraAttempts || isCertificateError(err)) return false;
    return this.policy.retryAttempts > 0 || isConnectError(err);
  }

  /**
   * Whether another attempt may follow a failed prefill request (no response, a 5xx or a 429, an unreadable body).
   * Unlike the client's request it is always safe to repeat: its one output token is discarded, nothing reached the
   * client, so it follows the connect-error rule even without a retry policy.
   */
  retryAfterPrefillFailure(err: unknown, attempt: number): boolean {
    return attempt < this.extraAttempts && !isCertificateError(err);
  }

  /**
   * Whether another attempt may follow one whose own deadline expired (no headers, or no first token, in time). The
   * endpoint is hung or far behind and nothing reached the client: like a connect error, it is worth one failover
   * even without a retry policy.
   */
  retryAfterAttemptTimeout(attempt: number): boolean {
    return attempt < this.extraAttempts;
  }

  /** Whether a response status is retried instead of returned. */
  retryAfterStatus(status: number, attempt: number): boolean {
    if (this.policy.retryAttempts <= 0 || attempt >= this.extraAttempts) return false;
    return status >= 500 || (status === 429 && this.policy.retryOnRateLimit === true);
  }
}
