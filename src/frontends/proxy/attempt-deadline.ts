import type { Readable } from 'node:stream';
import type { UpstreamPolicy } from '../../core/types.js';

// Per-attempt deadlines of the proxy. A hung pod (accepts, never answers; or sends headers, never a token) would
// otherwise hold the request until the whole-request timeout, if any. Both deadlines run from the attempt's start:
// one until the response headers, one until the first body byte of a streamed response. Either expiring aborts just
// this attempt, so the attempt loop can try the next endpoint while nothing has reached the client.

export type AttemptPhase = 'headers' | 'first_token';

export class AttemptDeadline {
  /** Aborts the attempt's upstream request: the request's own abort, or a deadline of this attempt. */
  readonly signal: AbortSignal;
  /** The deadline that expired, with its length. */
  expired: { phase: AttemptPhase; ms: number } | undefined;
  private readonly own = new AbortController();
  private readonly timers = new Map<AttemptPhase, NodeJS.Timeout>();

  constructor(request: AbortSignal, policy: Pick<UpstreamPolicy, 'attemptHeadersTimeoutMs' | 'attemptFirstTokenTimeoutMs'>) {
    this.signal = AbortSignal.any([request, this.own.signal]);
    this.start('headers', policy.attemptHeadersTimeoutMs ?? 0);
    this.start('first_token', policy.attemptFirstTokenTimeoutMs ?? 0);
  }

  /** Whether the attempt must show its first body byte before the response goes to the client. */
  get waitsForFirstToken(): boolean {
    return this.timers.has('first_token');
  }

  /** The phase was reached in time: its deadline no longer applies. */
  passed(phase: AttemptPhase): void {
    clearTimeout(this.timers.get(phase));
    this.timers.delete(phase);
  }

  clear(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }

  private start(phase: AttemptPhase, ms: number): void {
    if (ms <= 0) return;
    const timer = setTimeout(() => {
      this.expired ??= { phase, ms };
      this.clear();
      this.own.abort();
    }, ms);
    this.timers.set(phase, timer);
  }
}

/**
 * Resolves true once `body` has its first byte (put back, the stream left paused for its reader) or has ended or
 * failed (the reader sees that too); false when `signal` aborts first.
 */
export function untilFirstByte(body: Readable, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const settle = (ok: boolean) => {
      body.off('data', onData);
      body.off('end', onSettled);
      body.off('error', onSettled);
      signal.removeEventListener('abort', onAbort);
      resolve(ok);
    };
    const onData = (chunk: Buffer) => {
      body.pause();
      body.unshift(chunk);
      settle(true);
    };
    const onSettled = () => settle(true);
    const onAbort = () => settle(false);
    body.on('data', onData);
    body.once('end', onSettled);
    body.once('error', onSettled);
    signal.addEventListener('abort', onAbort, { once: true });
  });
}
