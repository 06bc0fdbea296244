import type { ApiError } from '../openai/errors.js';

// llm-d's `x-llm-d-request-dropped-reason` response header: why the picker refused a request, as one of llm-d's
// enumerated values (never free text), so clients and load generators can tell backpressure from unavailability.
// llm-d also defines `evicted`, `evicted-queue-pressure` and `evicted-priority` for requests killed after dispatch;
// this router never evicts a dispatched request.

export const DROPPED_REASON_HEADER = 'x-llm-d-request-dropped-reason';

export const DroppedReason = {
  /** Every endpoint saturated and the request sheddable, or the queue full: 429. */
  saturated: 'rejected-saturated',
  /** No endpoint can serve the request: 503. */
  noEndpoints: 'rejected-no-endpoints',
  /** Held longer than the queue allows: 429. */
  ttlExpired: 'rejected-ttl-expired',
  /** The client went away while the request was held: 503. */
  contextCancelled: 'rejected-context-cancelled',
  /** The router is shutting down: 503. */
  shuttingDown: 'rejected-shutting-down',
} as const;

export type DroppedReason = (typeof DroppedReason)[keyof typeof DroppedReason];

/** The 503 for a request no endpoint can serve (none ready, none in the gateway's subset, all filtered out). */
export function noEndpointError(message: string): ApiError {
  return { status: 503, code: 'no_ready_endpoint', message, headers: { [DROPPED_REASON_HEADER]: DroppedReason.noEndpoints } };
}
