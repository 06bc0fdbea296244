import type { RouteRateLimit } from '../resources/types.js';
import type { HeaderMapLike } from './types.js';

// What the pipeline needs from the auth and rate-limit filters (src/filters/), kept structural so the core does no
// I/O of its own and tests can run it without them.

export interface Principal {
  user: string;
  tenant: string;
  tier?: string;
  groups: string[];
  method: string;
  /** Request headers the router consumed (the credential it verified, cookies): removed before self-hosted pods. */
  consumedHeaders?: string[];
}

export type AuthOutcome =
  | { ok: true; principal: Principal }
  | { ok: false; status: number; code: string; message: string; reason: string; headers?: Record<string, string> };

export interface AuthFilter {
  authenticate(headers: HeaderMapLike, model: string): Promise<AuthOutcome>;
}

export interface Reservation {
  /**
   * The request reached an upstream: its input tokens stay charged, and the reserved output tokens are replaced by
   * `actualOutputTokens`, or kept (the `max_tokens` share) when it is undefined because no output was ever seen.
   */
  commit(actualOutputTokens?: number): void;
  /** The request never left the router: give everything back. */
  release(): void;
}

export type ReserveOutcome =
  | { ok: true; reservation: Reservation; headers: Record<string, string> }
  | {
      ok: false;
      status: number;
      headers: Record<string, string>;
      message: string;
      code: string;
      /** The limit the request ran into, when one did (not when the limiter itself was unavailable). */
      limitType?: 'requests' | 'inputTokens' | 'outputTokens';
    };

export interface ReserveRequest {
  principal: Principal;
  model: string;
  routeKey?: string;
  routeLimit?: RouteRateLimit;
  inputTokens: number;
  maxOutputTokens: number;
}

/** A request as far as the cheap checks need it: who, which model and route, before its tokens are counted. */
export type PrecheckRequest = Omit<ReserveRequest, 'inputTokens' | 'maxOutputTokens'>;

export interface RateLimitFilter {
  reserve(req: ReserveRequest): Promise<ReserveOutcome>;
  /** A refusal when the request-count limits alone already refuse the request; nothing is taken. */
  precheck?(req: PrecheckRequest): Promise<ReserveOutcome | undefined>;
}

/**
 * Input tokens of a prompt; may be asynchronous so that big prompts are counted off the event loop. `signal` aborts
 * when the request is over (timed out, client gone): the counter should then stop its work and answer at once.
 */
export type TokenCounter = (model: string, text: string, signal?: AbortSignal) => number | Promise<number>;
