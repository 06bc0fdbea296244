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
    const out = new Array<number>(eps.length).fill(0);
    if (hashes.length === 0) return out;
    // Every owner, not only candidates: the index keeps a few owners per block, while candidates may be a thousand.
    const matched = this.index.match(hashes);
    if (matched.size === 0) return out;
    const hits: number[] = [];
    for (let i = 0; i < eps.length; i++) {
      const n = matched.get(eps[i]!.address);
      if (n === undefined) continue;
      out[i] = n / hashes.length;
      hits.push(i);
    }
    if (hits.length > this.o.topKMatches) {
      hits.sort((a, b) => out[b]! - out[a]!);
      for (const i of hits.slice(this.o.topKMatches)) out[i] = 0;
    }
    return out;
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
