import type { Outcome } from '../../core/types.js';
import type { Endpoint } from '../../datastore/endpoint.js';
import { hex64, type BlockKey } from '../../kv-events/block-key.js';
import type { KvEventsFleet } from '../../kv-events/fleet.js';
import { extraKeysFor, type VllmBlockHasher } from '../../kv-events/vllm-hash.js';
import type { SchedulingRequest } from '../types.js';
import type { PrefixMatcher } from './matcher.js';
import { prefixTokens, type Encode } from './tokens.js';

export interface PreciseMatcherOptions {
  /** Undefined when the hash settings are unsupported: every endpoint then uses the fallback. */
  fleet: KvEventsFleet | undefined;
  hasher: VllmBlockHasher;
  /** The engines' KV block size in tokens. */
  blockSize: number;
  maxBlocksToMatch: number;
  encoderFor: (model: string) => Encode | undefined;
  /** Today's approximate index, for endpoints whose events are not available. It learns from every pick. */
  fallback: PrefixMatcher;
  /** Bound on the blocks of in-flight requests tracked per endpoint. */
  maxPendingBlocks: number;
}

interface PreciseClaim {
  keys: BlockKey[];
  owner?: string;
}

/**
 * Prefix matching against the blocks the engines report holding (their KV-cache events), with the prompt hashed as
 * vLLM hashes it: the engine's tokenizer, block size, hash algorithm and seed, and the LoRA adapter as extra key.
 * Blocks of requests this router sent and that have not completed count as held too: the engine reports a
 * prompt's blocks only once it has computed them, and a burst sharing a new prefix should still land together.
 */
export class PrecisePrefixMatcher implements PrefixMatcher {
  private readonly claims = new WeakMap<SchedulingRequest, PreciseClaim | null>();
  /** Per endpoint: block key → in-flight requests of ours holding it. */
  private readonly pending = new Map<string, Map<BlockKey, number>>();

  constructor(private readonly o: PreciseMatcherOptions) {}

  fractions(req: SchedulingRequest, eps: Endpoint[]): number[] {
    const keys = this.claim(req)?.keys;
    const fleet = this.o.fleet;
    let approx: number[] | undefined;
    return eps.map((ep, i) => {
      if (keys && fleet?.ensure(ep.address, ep.ip)) {
        if (keys.length === 0) return 0;
        const pending = this.pending.get(ep.address);
        return fleet.leadingBlocks(ep.address, keys, pending && ((k) => pending.has(k))) / keys.length;
      }
      approx ??= this.o.fallback.fractions(req, eps);
      return approx[i]!;
    });
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    this.o.fallback.picked(req, ep);
    const c = this.claim(req);
    if (c && c.owner === undefined) this.hold(c, ep.address);
  }

  served(req: SchedulingRequest, ep: Endpoint): void {
    this.o.fallback.served(req, ep);
    const c = this.claim(req);
    if (!c || c.owner === ep.address) return;
    this.release(c);
    this.hold(c, ep.address);
  }

  completed(req: SchedulingRequest, ep: Endpoint | undefined, outcome: Outcome): void {
    this.o.fallback.completed(req, ep, outcome);
    const c = this.claims.get(req);
    if (c) this.release(c);
  }

  removed(addresses: string[]): void {
    this.o.fallback.removed(addresses);
    this.o.fleet?.remove(addresses);
    for (const a of addresses) this.pending.delete(a);
  }

  async close(): Promise<void> {
    this.o.fleet?.close();
    await this.o.fallback.close?.();
  }

  private hold(c: PreciseClaim, address: string): void {
    c.owner = address;
    let m = this.pending.get(address);
    if (!m) this.pending.set(address, (m = new Map()));
    // A request whose completion we never hear of must not pin blocks forever.
    if (m.size + c.keys.length > this.o.maxPendingBlocks) m.clear();
    for (const k of c.keys) m.set(k, (m.get(k) ?? 0) + 1);
  }

  private release(c: PreciseClaim): void {
    const m = c.owner === undefined ? undefined : this.pending.get(c.owner);
    c.owner = undefined;
    if (!m) return;
    for (const k of c.keys) {
      const n = m.get(k);
      if (n === undefined) continue;
      if (n <= 1) m.delete(k);
      else m.set(k, n - 1);
    }
  }

  /** Null while the model's tokenizer is not available: the request is then matched by the fallback alone. */
  private claim(req: SchedulingRequest): PreciseClaim | null {
    const known = this.claims.get(req);
    if (known !== undefined) return known;
    const encode = this.o.encoderFor(req.model);
    if (!encode) return null; // not cached: the tokenizer may be ready for the next request
    const { blockSize, maxBlocksToMatch, hasher } = this.o;
    const { tokens } = prefixTokens(encode, req.promptText, blockSize * maxBlocksToMatch);
    const digests = hasher.blockHashes(tokens, blockSize, extraKeysFor(req.loraAdapter), maxBlocksToMatch);
    const c = { keys: digests.map(hex64) };
    this.claims.set(req, c);
    return c;
  }
}
