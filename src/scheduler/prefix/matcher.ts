import type { Outcome } from '../../core/types.js';
import type { Endpoint } from '../../datastore/endpoint.js';
import type { SchedulingRequest } from '../types.js';

/**
 * Where a prompt's prefix is believed to be cached. Implemented over characters (prefix-cache) and over tokenizer
 * blocks (kvcache-aware); scorers such as prefix-load use either through this interface.
 */
export interface PrefixMatcher {
  /** Per endpoint (same order), the fraction 0..1 of the request's hashed prompt blocks it is believed to hold. */
  fractions(req: SchedulingRequest, eps: Endpoint[]): number[];
  /** Optimistic: the endpoint will compute and cache the prompt. */
  picked(req: SchedulingRequest, ep: Endpoint): void;
  /** The gateway reported a different endpoint than the pick: move the claim there. */
  served(req: SchedulingRequest, ep: Endpoint): void;
  completed(req: SchedulingRequest, ep: Endpoint | undefined, outcome: Outcome): void;
  removed(addresses: string[]): void;
  close?(): Promise<void>;
}

/** What a matcher remembers per request between score and the lifecycle hooks (kept in a WeakMap on the request). */
export interface Claim {
  hashes: number[];
  /** Endpoint the claim is recorded against. */
  owner?: string;
  /** Hashes this request newly claimed for `owner`: the part to withdraw if the claim proves wrong. */
  added: number[];
}
