import type { HeaderMapLike, Outcome } from '../core/types.js';
import type { Endpoint } from '../datastore/endpoint.js';

/** What plugins know about the request being scheduled. */
export interface SchedulingRequest {
  requestId: string;
  /** Model name as the engine will see it (after rewrite; a LoRA adapter name stays as is). */
  model: string;
  /** Set when the request targets a LoRA adapter (the route matched it through `loraAdapters`). */
  loraAdapter?: string;
  /** Prompt text as the engine renders it (chat messages in order), for prefix affinity. */
  promptText: string;
  headers: HeaderMapLike;
  /** End user (body `user`, or the authenticated principal). */
  user?: string;
  /** Routing group: `server:<ns>/<name>` or `pool:<ns>/<name>`; plugins keep per-group state. */
  group: string;
}

export interface FilterPlugin {
  readonly name: string;
  /** Returns the endpoints that may take the request. */
  filter(req: SchedulingRequest, endpoints: Endpoint[]): Endpoint[];
}

export interface ScorePlugin {
  readonly name: string;
  /** One score in 0..100 per endpoint, same order. */
  score(req: SchedulingRequest, endpoints: Endpoint[]): number[];
}

/** Optional lifecycle hooks, for plugins that learn from traffic (prefix index, session stickiness). */
export interface LifecyclePlugin {
  readonly name: string;
  onPicked?(req: SchedulingRequest, endpoint: Endpoint): void;
  onServed?(req: SchedulingRequest, endpoint: Endpoint): void;
  onComplete?(req: SchedulingRequest, endpoint: Endpoint | undefined, outcome: Outcome): void;
  /** Forget state about endpoints that are gone. */
  onEndpointsRemoved?(addresses: string[]): void;
  /** Release connections and timers (e.g. a Redis-shared index). */
  close?(): Promise<void>;
}

export type Plugin = Partial<FilterPlugin & ScorePlugin & LifecyclePlugin> & { readonly name: string };

export type PluginArgs = Record<string, unknown>;

export type PluginFactory = (args: PluginArgs) => Plugin;

export interface SchedulingResult {
  /** Ranked best first: primary, then fallbacks. */
  ranked: Endpoint[];
  /** Each ranked endpoint's weighted score (sum of weight × plugin score), same order. */
  scores: number[];
}
