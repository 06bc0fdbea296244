import type { InferenceRequest } from './openai-request.js';
import type { SimRequest } from './sequence.js';

// A simulator's part in prefill/decode disaggregation, by engine: vLLM's NixlConnector (nixl.ts) or SGLang's
// bootstrap rooms (bootstrap.ts). The HTTP front asks the role, before a request enters the engine, how it takes part.

/** How one inference request takes part in a P/D exchange. */
export interface PdPhase {
  /** Decode side: leading prompt tokens whose KV the prefill engine sent. */
  remotePrefixTokens: number;
  /** Prefill side: keep the KV blocks after the request finishes, for the decode engine to read. */
  holdKv: boolean;
  /** The request finished: fields to add to a non-streamed response body. */
  finished?(req: SimRequest): Record<string, unknown> | undefined;
  /** The request ended without finishing (client gone, rejected by the engine). */
  abandoned?(): void;
}

export interface PdRole {
  /**
   * Prepares a request's part; may wait (for the other side, for the KV). Throws ApiError for a request the role
   * cannot serve. `promptLen` is the request's prompt length in tokens.
   */
  begin(r: InferenceRequest, promptLen: number, signal: AbortSignal): Promise<PdPhase>;
  /** Answers the role's own POST routes on the main port (vLLM's KV reads); undefined for any other path. */
  sideChannel(path: string, body: unknown): { status: number; body: object } | undefined;
  close(): Promise<void>;
}

/** Plain serving: no P/D part. */
export const LOCAL_PHASE: PdPhase = Object.freeze({ remotePrefixTokens: 0, holdKv: false });

/** A role for a simulator that takes no part in P/D (the fields are accepted and ignored, as engines do). */
export const NO_ROLE: PdRole = {
  begin: () => Promise.resolve(LOCAL_PHASE),
  sideChannel: () => undefined,
  close: () => Promise.resolve(),
};
