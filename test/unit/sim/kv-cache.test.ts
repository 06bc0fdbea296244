import { expect } from 'chai';
import { chainRoot, extendBlockHashes } from '../../../src/sim/block-hash.js';
import { KvCache } from '../../../src/sim/kv-cache.js';

const seq = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

function hashesOf(tokens: number[], blockSize: number, lora: string | null = null): number[] {
  const out: number[] = [];
  extendBlockHashes(out, tokens, blockSize, chainRoot(lora));
  return out;
}

describe('sim KV cache', () => {
  describe('block hashes', () => {
    it('hash full blocks only, chained over the whole prefix', () => {
      const a = hashesOf([...seq(0, 40)], 16);
      expect(a).to.have.length(2);
      const b = hashesOf([...seq(0, 16), ...seq(100, 16), ...seq(32, 16)], 16);
      expect(b[0]).to.equal(a[0]);
      expect(b[1]).to.not.equal(a[1]);
      // block 2 of b holds the same tokens as block 2 of a would, but its prefix differs
      const a3 = hashesOf([...seq(0, 48)], 16);
      expect(b[2]).to.not.equal(a3[2]);
    });

    it('are stable, extend incrementally and differ per LoRA adapter', () => {
      const tokens = seq(5, 64);
      const incremental: number[] = [];
      extendBlockHashes(incremental, tokens.slice(0, 20), 16, 0);
      extendBlockHashes(incremental, tokens, 16, 0);
      expect(incremental).to.deep.equal(hashesOf(tokens, 16));
      expect(hashesOf(tokens, 16, 'sql')[0]).to.not.equal(hashesOf(tokens, 16)[0]);
      expect(hashesOf(tokens, 16, 'sql')).to.deep.equal(hashesOf(tokens, 16, 'sql'));
      for (const h of hashesOf(tokens, 16, 'sql')) expect(Number.isSafeInteger(h)).to.equal(true);
    });
  });

  describe('blocks', () => {
    it('allocates with one reference and refuses when not enough are free', () => {
      const kv = new KvCache(4, 16);
      const got = kv.allocate(3)!;
      expect(got).to.have.length(3);
      for (const b of got) expect(kv.refCount(b)).to.equal(1);
      expect(kv.numFree).to.equal(1);
      expect(kv.usage()).to.equal(0.75);
      expect(kv.allocate(2)).to.equal(null);
      kv.release(got);
      expect(kv.numFree).to.equal(4);
      expect(() => kv.release([got[0]!])).to.throw(/released more often/);
    });

    it('finds cached prefixes, counts references, and keeps released blocks cached', () => {
      const kv = new KvCache(8, 4);
      const hashes = hashesOf(seq(0, 12), 4);
      const blocks = kv.allocate(3)!;
      blocks.forEach((b, i) => kv.register(b, hashes[i]!));
      expect(kv.numCached).to.equal(3);

      // a second request with the same first two blocks and a different third
      const other = hashesOf([...seq(0, 8), 99, 98, 97, 96], 4);
      const hit = kv.matchPrefix(other);
      expect(hit).to.deep.equal(blocks.slice(0, 2));
      kv.touch(hit);
      expect(kv.refCount(blocks[0]!)).to.equal(2);

      kv.release(blocks);
      expect(kv.refCount(blocks[0]!)).to.equal(1);
      expect(kv.refCount(blocks[2]!)).to.equal(0);
      expect(kv.isCached(hashes[2]!)).to.equal(true); // free but still cached
      expect(kv.countUnreferenced(blocks)).to.equal(1);
      expect(kv.matchPrefix(hashes, 1)).to.deep.equal([blocks[0]]);
    });

    it('evicts unreferenced cached blocks least recently released first, a request tail first', () => {
      const kv = new KvCache(4, 2);
      const ha = hashesOf([1, 2, 3, 4], 2);
      const hb = hashesOf([5, 6, 7, 8], 2);
      const a = kv.allocate(2)!;
      const b = kv.allocate(2)!;
      a.forEach((blk, i) => kv.register(blk, ha[i]!));
      b.forEach((blk, i) => kv.register(blk, hb[i]!));
      kv.release(a); // released first: evicted first, its tail (a[1]) before its head
      kv.release(b);
      expect(kv.numFree).to.equal(4);
      expect(kv.matchPrefix(ha)).to.have.length(2);

      expect(kv.allocate(1)).to.deep.equal([a[1]]);
      expect(kv.isCached(ha[1]!)).to.equal(false);
      expect(kv.matchPrefix(ha)).to.deep.equal([a[0]]); // the head survives

      // touching B's blocks takes them out of the eviction order
      kv.touch(kv.matchPrefix(hb));
      expect(kv.allocate(1)).to.deep.equal([a[0]]);
      expect(kv.allocate(1)).to.equal(null);
      expect(kv.matchPrefix(hb)).to.deep.equal(b);
    });

    it('does not register a duplicate of an already cached block', () => {
      const kv = new KvCache(4, 2);
      const [h] = hashesOf([1, 2], 2);
      const [x, y] = kv.allocate(2)!;
      kv.register(x!, h!);
      kv.register(y!, h!);
      expect(kv.matchPrefix([h!])).to.deep.equal([x]);
      expect(kv.numCached).to.equal(1);
    });
  });
});
