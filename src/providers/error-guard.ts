import type { ResponseTransform } from '../core/exchange.js';
import type { HeaderMapLike, ResponseHeadersChange } from '../core/types.js';
import { CredentialRedactor } from './credential-redactor.js';

/** Carries the provider's own status when the router answers its auth error with a 502. */
export const PROVIDER_STATUS_HEADER = 'x-kthena-provider-status';

const EMPTY = Buffer.alloc(0);

/** What a provider's 401/403 becomes: the router's credential for it is wrong, not the client's. */
export const PROVIDER_AUTH_FAILED = Buffer.from(
  JSON.stringify({
    error: {
      message: 'the model provider rejected the router\'s credentials',
      type: 'server_error',
      param: null,
      code: 'provider_auth_failed',
    },
  }),
);

type Mode = 'pass' | 'redact' | 'auth';

/**
 * Wraps a provider adapter's response transform so that no provider error reaches the client as the provider wrote
 * it. A 2xx answer goes straight to the adapter (no copy, no scan). Any other body is held, up to `maxBytes` (the rest
 * is dropped), cleared of the injected credential and then handed to the adapter whole. A 401 or 403 means the
 * router's key is bad: the client gets a generic 502 `provider_auth_failed`, the provider's status in
 * `x-kthena-provider-status`, and none of the provider's text.
 */
export class ProviderErrorGuard implements ResponseTransform {
  private mode: Mode = 'pass';
  private held: Buffer[] = [];
  private heldBytes = 0;
  private readonly redactor: CredentialRedactor | undefined;

  constructor(
    private readonly inner: ResponseTransform | undefined,
    credential: string | undefined,
    private readonly maxBytes: number,
  ) {
    this.redactor = credential ? new CredentialRedactor(credential) : undefined;
  }

  start(status: number, headers: HeaderMapLike): ResponseHeadersChange | void {
    if (status === 401 || status === 403) {
      this.mode = 'auth';
      return {
        status: 502,
        setHeaders: { 'content-type': 'application/json', [PROVIDER_STATUS_HEADER]: String(status) },
        removeHeaders: ['content-length'],
        body: PROVIDER_AUTH_FAILED,
      };
    }
    this.mode = status >= 200 && status < 300 ? 'pass' : 'redact';
    const change = this.inner?.start?.(status, headers);
    if (this.mode === 'pass') return change;
    return { ...change, removeHeaders: [...(change?.removeHeaders ?? []), 'content-length'] };
  }

  body(chunk: Buffer, end: boolean): Buffer {
    if (this.mode === 'pass') return this.inner ? this.inner.body(chunk, end) : chunk;
    if (this.mode === 'auth') return end ? PROVIDER_AUTH_FAILED : EMPTY;
    this.hold(chunk);
    if (!end) return EMPTY;
    const text = Buffer.concat(this.held).toString('utf8');
    this.held = [];
    const clean = Buffer.from(this.redactor ? this.redactor.redact(text) : text).subarray(0, this.maxBytes);
    return this.inner ? this.inner.body(clean, true) : clean;
  }

  /**
   * Keeps the first `maxBytes` plus the longest credential form: a key that starts inside the cap is then seen
   * whole and redacted before the cut.
   */
  private hold(chunk: Buffer): void {
    const room = this.maxBytes + (this.redactor?.longest ?? 0) - this.heldBytes;
    if (room <= 0 || chunk.length === 0) return;
    const kept = chunk.length > room ? Buffer.from(chunk.subarray(0, room)) : chunk;
    this.held.push(kept);
    this.heldBytes += kept.length;
  }
}
