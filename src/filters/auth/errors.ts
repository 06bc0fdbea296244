import type { AuthFailure } from './types.js';

/** A rejection raised inside a verifier; the Authenticator turns it into an AuthFailure. */
export class AuthError extends Error {
  constructor(
    readonly status: 401 | 403 | 503,
    readonly code: string,
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }

  toFailure(): AuthFailure {
    const headers: Record<string, string> =
      this.status === 401 ? { 'www-authenticate': `Bearer realm="kthena-router", error="invalid_token"` } : {};
    return { ok: false, status: this.status, code: this.code, message: this.message, reason: this.reason, headers };
  }
}

export const invalidToken = (reason: string, message = 'The access token is invalid.'): AuthError =>
  new AuthError(401, 'invalid_token', reason, message);

export const authUnavailable = (reason: string): AuthError =>
  new AuthError(503, 'auth_unavailable', reason, 'Authentication is temporarily unavailable; retry later.');
