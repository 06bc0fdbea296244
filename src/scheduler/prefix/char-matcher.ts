import type { Outcome } from '../../core/types.js';
import type { Endpoint } from '../../datastore/endpoint.js';
import type { SchedulingRequest } from '../types.js';
import { chainRoot, charBlockHashes } from './hash.js';
import type { Claim, PrefixMatcher } from './matcher.js';
import { PrefixIndex } from './prefix-index.js';

export interface CharMatcherOptions {
  /** Characters per hashed block (Kthena: 64, about 16 tokens, one vLLM block). */
  blockSizeToHash: number;
  /** Blocks hashed per prompt; the rest of a longer prompt is ignored. */
  maxBlocksToMatch: number;
  /** Hashes kept in the index over all endpoints and groups (LRU). */
  maxHashCacheSize: number;
  /** Only the K endpoints with the longest matches score. */
  topKMatches: number;
}

/**
 * Approximate prefix matching over the prompt text: chained hashes of fixed-size character blocks, seeded with the
 * routing group and model so that different models never share an entry. Learns from the router's own picks.
 */
export class CharPrefixMatcher implements PrefixMatcher {
  private readonly index: PrefixIndex;
  private readonly claims = new WeakMap<SchedulingRequest, Claim>();

  constructor(private readonly o: CharMatcherOptions) {
    this.index = new PrefixIndex(o.maxHashCacheSize);
  }

  fractions(req: SchedulingRequest, eps: Endpoint[]): number[] {
    const { hashes } = this.claim(req);
    if (hashes.length === 0) return eps.map(() => 0);
    let matched = this.index.match(hashes, new Set(eps.map((e) => e.address)));
    if (matched.size > this.o.topKMatches) {
      matched = new Map([...matched].sort((a, b) => b[1] - a[1]).slice(0, this.o.topKMatches));
    }
    return eps.map((e) => (matched.get(e.address) ?? 0) / hashes.length);
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    const c = this.claim(req);
    if (c.owner !== undefined) return;
    c.owner = ep.address;
    c.added = this.index.add(c.hashes, ep.address);
  }

  served(req: SchedulingRequest, ep: Endpoint): void {
    const c = this.claim(req);
    if (c.owner === ep.address) return;
    if (c.owner !== undefined) this.index.retract(c.added, c.owner);
    c.owner = ep.address;
    c.added = this.index.add(c.hashes, ep.address);
  }

  completed(req: SchedulingRequest, _ep: Endpoint | undefined, outcome: Outcome): void {
    // A failed request most likely never prefilled (rejected, engine down): its claim would mislead later picks.
    const c = this.claims.get(req);
    if (outcome !== 'error' || c?.owner === undefined) return;
    this.index.retract(c.added, c.owner);
    c.added = [];
  }

  removed(addresses: string[]): void {
    this.index.removeEndpoints(addresses);
  }

  private claim(req: SchedulingRequest): Claim {
    let c = this.claims.get(req);
    if (!c) {
      const root = chainRoot(req.group, req.model);
      c = { hashes: charBlockHashes(req.promptText, this.o.blockSizeToHash, this.o.maxBlocksToMatch, root), added: [] };
      this.claims.set(req, c);
    }
    return c;
  }
}
