import type { Outcome } from '../../core/types.js';
import type { Endpoint } from '../../datastore/endpoint.js';
import type { SchedulingRequest } from '../types.js';
import { EndpointBlockIndex } from './block-index.js';
import { chainRoot, tokenBlockHashes } from './hash.js';
import type { Claim, PrefixMatcher } from './matcher.js';
import type { SharedBlockOwners } from './shared-blocks.js';
import { prefixTokens, type Encode } from './tokens.js';

export interface TokenMatcherOptions {
  /** Tokens per block; vLLM's default KV block is 16 tokens. */
  blockSizeToHash: number;
  maxBlocksToMatch: number;
  /** Blocks modelled per endpoint when its metrics do not report num_gpu_blocks. */
  defaultBlocksPerEndpoint: number;
  /** The encoder for a model, or undefined while it is not available yet. */
  encoderFor: (model: string) => Encode | undefined;
  /** Ownership shared with other router replicas (optional). */
  shared?: SharedBlockOwners;
}

interface TokenClaim extends Claim {
  /** KV blocks of the prompt beyond the hashed ones (estimated). */
  tailBlocks: number;
}

/**
 * Precise prefix matching over token blocks, as vLLM's prefix caching sees a prompt: chained hashes of full blocks
 * of `blockSizeToHash` token ids, an index per endpoint bounded by its KV capacity, optionally merged with the
 * ownership other router replicas publish in Redis.
 */
export class TokenPrefixMatcher implements PrefixMatcher {
  private readonly index = new EndpointBlockIndex();
  private readonly claims = new WeakMap<SchedulingRequest, TokenClaim>();

  constructor(private readonly o: TokenMatcherOptions) {}

  fractions(req: SchedulingRequest, eps: Endpoint[]): number[] {
    const hashes = this.claim(req)?.hashes ?? [];
    if (hashes.length === 0) return eps.map(() => 0);
    const shared = this.o.shared;
    const remote = shared ? hashes.map((h) => shared.owners(h, req.model)) : undefined;
    const elsewhere = remote && ((i: number, address: string) => remote[i]?.has(address) === true);
    return eps.map((e) => this.index.leadingBlocks(e.address, hashes, elsewhere) / hashes.length);
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    const c = this.claim(req);
    if (!c || c.owner !== undefined) return;
    this.assign(req, c, ep);
  }

  served(req: SchedulingRequest, ep: Endpoint): void {
    const c = this.claim(req);
    if (!c || c.owner === ep.address) return;
    if (c.owner !== undefined) this.index.retract(c.owner, c.added);
    this.assign(req, c, ep);
  }

  completed(req: SchedulingRequest, _ep: Endpoint | undefined, outcome: Outcome): void {
    const c = this.claims.get(req);
    if (outcome !== 'error' || c?.owner === undefined) return;
    this.index.retract(c.owner, c.added);
    c.added = [];
  }

  removed(addresses: string[]): void {
    this.index.removeEndpoints(addresses);
  }

  async close(): Promise<void> {
    await this.o.shared?.close();
  }

  /** KV blocks modelled for an endpoint (tests, metrics). */
  blocks(address: string): number {
    return this.index.blocks(address);
  }

  private assign(req: SchedulingRequest, c: TokenClaim, ep: Endpoint): void {
    c.owner = ep.address;
    c.added = this.index.add(ep.address, c.hashes, this.capacity(ep), c.tailBlocks);
    // Every block, not only new ones: a write refreshes the ownership's age for the other replicas.
    this.o.shared?.record(c.hashes, req.model, ep.address);
  }

  /** The endpoint's KV cache in our blocks: num_gpu_blocks × engine block size / our block size. */
  private capacity(ep: Endpoint): number {
    const m = ep.state.metrics;
    if (!m?.numGpuBlocks) return this.o.defaultBlocksPerEndpoint;
    const engineBlock = m.blockSize ?? this.o.blockSizeToHash;
    return Math.max(1, Math.floor((m.numGpuBlocks * engineBlock) / this.o.blockSizeToHash));
  }

  /** Undefined while the model's tokenizer is still loading: the request is then matched by nothing. */
  private claim(req: SchedulingRequest): TokenClaim | undefined {
    let c = this.claims.get(req);
    if (c) return c;
    const encode = this.o.encoderFor(req.model);
    if (!encode) return undefined;
    const maxTokens = this.o.blockSizeToHash * this.o.maxBlocksToMatch;
    const { tokens, chars } = prefixTokens(encode, req.promptText, maxTokens);
    const root = chainRoot(req.group, req.model);
    const hashes = tokenBlockHashes(tokens, this.o.blockSizeToHash, this.o.maxBlocksToMatch, root);
    // The engine caches the whole prompt: estimate the blocks beyond the hashed ones from the text not tokenized.
    const totalTokens = chars > 0 ? (tokens.length * req.promptText.length) / chars : 0;
    const tailBlocks = Math.max(0, Math.floor(totalTokens / this.o.blockSizeToHash) - hashes.length);
    c = { hashes, added: [], tailBlocks };
    this.claims.set(req, c);
    return c;
  }
}
