import type { Algorithm } from './config.js';

// Limit arithmetic on one dimension's state (three numbers), shared by the in-memory store and mirrored line for
// line by the Redis Lua scripts (lua.ts).
//
// token-bucket: a = tokens available, b = time of last update. The bucket holds `limit` and refills continuously at
//   limit/window. A new bucket is full. Charges after the fact (output tokens beyond the reservation) may push it
//   below zero; that debt is paid back by refill before anything else is admitted.
// sliding-window: a = index of the current fixed window, b = amount used in it, c = amount used in the previous one.
//   Usage = c * (fraction of the previous window still inside the sliding window) + b. Cheap, and accurate to a few
//   percent at window boundaries compared with an exact log.

export type State = [number, number, number];

export interface Outcome {
  ok: boolean;
  /** Budget left after this call (floored, ≥ 0). */
  remaining: number;
  /** Time until the budget is whole again. */
  resetMs: number;
  /** When refused: time until `cost` would fit. */
  retryAfterMs: number;
}

export function initial(algo: Algorithm, limit: number, now: number, windowMs: number): State {
  return algo === 'token-bucket' ? [limit, now, 0] : [Math.floor(now / windowMs), 0, 0];
}

/** Takes `cost` if it fits. Mutates `s`. */
export function acquire(algo: Algorithm, s: State, limit: number, windowMs: number, cost: number, now: number): Outcome {
  if (algo === 'token-bucket') {
    const rate = limit / windowMs;
    refill(s, limit, rate, now);
    const ok = s[0] >= cost;
    if (ok) s[0] -= cost;
    return {
      ok,
      remaining: Math.max(0, Math.floor(s[0])),
      resetMs: Math.ceil((limit - s[0]) / rate),
      retryAfterMs: ok ? 0 : Math.ceil((cost - s[0]) / rate),
    };
  }
  roll(s, windowMs, now);
  const start = s[0] * windowMs;
  const used = s[2] * (1 - (now - start) / windowMs) + s[1];
  const ok = used + cost <= limit;
  if (ok) s[1] += cost;
  const after = used + (ok ? cost : 0);
  let retryAfterMs = 0;
  if (!ok) {
    // The previous window's share fades linearly; if that is not enough, wait for the current one to become "previous".
    const room = limit - cost - s[1];
    if (room >= 0 && s[2] > 0) retryAfterMs = start + (1 - room / s[2]) * windowMs - now;
    else retryAfterMs = start + windowMs + (s[1] > 0 ? Math.max(0, 1 - (limit - cost) / s[1]) : 0) * windowMs - now;
  }
  return {
    ok,
    remaining: Math.max(0, Math.floor(limit - after)),
    resetMs: Math.ceil(s[1] > 0 ? start + 2 * windowMs - now : s[2] > 0 ? start + windowMs - now : 0),
    retryAfterMs: Math.ceil(Math.max(0, retryAfterMs)),
  };
}

/** Gives back `delta` (> 0) or charges more (< 0). Mutates `s`. */
export function adjust(algo: Algorithm, s: State, limit: number, windowMs: number, delta: number, now: number): void {
  if (algo === 'token-bucket') {
    refill(s, limit, limit / windowMs, now);
    s[0] = Math.min(limit, s[0] + delta);
  } else {
    roll(s, windowMs, now);
    s[1] = Math.max(0, s[1] - delta);
  }
}

/** Whether the state carries no information any more (bucket full / both windows empty) and can be dropped. */
export function idle(algo: Algorithm, s: State, limit: number, windowMs: number, now: number): boolean {
  if (algo === 'token-bucket') return s[0] + (now - s[1]) * (limit / windowMs) >= limit;
  return Math.floor(now / windowMs) >= s[0] + 2 || (s[1] === 0 && s[2] === 0);
}

function refill(s: State, limit: number, rate: number, now: number): void {
  if (now > s[1]) {
    s[0] = Math.min(limit, s[0] + (now - s[1]) * rate);
    s[1] = now;
  }
}

function roll(s: State, windowMs: number, now: number): void {
  const idx = Math.floor(now / windowMs);
  if (idx === s[0]) return;
  s[2] = idx === s[0] + 1 ? s[1] : 0;
  s[1] = 0;
  s[0] = idx;
}
