import type { UpstreamPolicy } from '../../core/types.js';

// When the proxy tries another endpoint. Nothing has been sent to the client when these are asked: once the first
// response byte is on its way, a failure can only end the stream.
//
// With a retry policy (ModelServer.trafficPolicy.retry.attempts = N), up to N extra attempts follow any failure
// before a response (refused, reset, closed, connect timeout) and any 5xx response, walking the ranked endpoints and
// wrapping around. Without one, the proxy still fails over once to the next endpoint when the connection could not
// be made at all: the pod never saw the request, so trying elsewhere is always safe; 5xx responses are returned.

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

  get intervalMs(): number {
    return this.policy.retryIntervalMs;
  }

  /** Whether a failed attempt (no response) may be followed by another. */
  retryAfterError(err: unknown, attempt: number): boolean {
    if (attempt >= this.extraAttempts) return false;
    return this.policy.retryAttempts > 0 || isConnectError(err);
  }

  /** Whether a response status is retried instead of returned. */
  retryAfterStatus(status: number, attempt: number): boolean {
    return status >= 500 && this.policy.retryAttempts > 0 && attempt < this.extraAttempts;
  }
}
