import { encode } from '@msgpack/msgpack';
import { expect } from 'chai';
import { decodeEventBatch, KvEventDecodeError } from '../../../src/kv-events/events.js';

// Payloads laid out as vLLM's msgspec structs encode them. Array-like (vLLM's docs example subscriber,
// examples/online_serving/kv_events_subscriber.py, and released engines): KVEventBatch = [ts, events,
// data_parallel_rank?]; each event a tagged array [tag, fields in declaration order]: BlockStored(block_hashes,
// parent_block_hash, token_ids, block_size, lora_id, medium, lora_name, ...), BlockRemoved(block_hashes, medium),
// AllBlocksCleared(). Map layout: the same fields by name, the tag under "type".

const digest = (byte: number) => new Uint8Array(32).fill(byte);
const TOKENS = Array.from({ length: 32 }, (_, i) => 1000 + i);

describe('kv-events: decoding vLLM KVEventBatch payloads', () => {
  it('reads the array-like layout, with byte and integer block hashes', () => {
    const payload = encode([
      1733450000.25,
      [
        ['BlockStored', [digest(1), digest(2)], null, TOKENS, 16, null, 'GPU', null],
        ['BlockStored', [0x1234n, 2n ** 64n - 1n], 0x99, TOKENS.slice(0, 32), 16, 3, 'GPU'],
        ['BlockRemoved', [digest(1)], 'GPU'],
        ['AllBlocksCleared'],
      ],
      0,
    ], { useBigInt64: true });
    const batch = decodeEventBatch(payload);
    expect(batch.ts).to.equal(1733450000.25);
    expect(batch.dataParallelRank).to.equal(0);
    expect(batch.events.map((e) => e.type)).to.deep.equal(['BlockStored', 'BlockStored', 'BlockRemoved', 'AllBlocksCleared']);
    const [a, b, r] = batch.events as any[];
    // Byte hashes key by their low 64 bits, exactly as VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES turns them into ints.
    expect(a.blockHashes).to.deep.equal(['0101010101010101', '0202020202020202']);
    expect(a.parentBlockHash).to.equal(null);
    expect(a.tokenIds).to.deep.equal(TOKENS);
    expect(a).to.include({ blockSize: 16, loraId: null, medium: 'GPU' });
    expect(b.blockHashes).to.deep.equal(['0000000000001234', 'ffffffffffffffff']);
    expect(b.parentBlockHash).to.equal('0000000000000099');
    expect(b.loraId).to.equal(3);
    expect(r).to.deep.equal({ type: 'BlockRemoved', blockHashes: ['0101010101010101'], medium: 'GPU' });
  });

  it('keys a 32-byte digest and its int form (low 64 bits, big-endian) the same', () => {
    const d = Uint8Array.from({ length: 32 }, (_, i) => i);
    const asInt = BigInt('0x' + Buffer.from(d.subarray(24)).toString('hex'));
    const batch = decodeEventBatch(encode([0, [['BlockRemoved', [d, asInt], null]]], { useBigInt64: true }));
    const [e] = batch.events as any[];
    expect(e.blockHashes[0]).to.equal(e.blockHashes[1]);
    expect(e.medium).to.equal(null);
  });

  it('reads older engines that omit medium and the data-parallel rank', () => {
    const batch = decodeEventBatch(encode([1.5, [['BlockStored', [7], null, TOKENS.slice(0, 16), 16, null]]]));
    expect(batch.dataParallelRank).to.equal(null);
    expect((batch.events[0] as any).medium).to.equal(null);
  });

  it('reads the map layout', () => {
    const payload = encode({
      ts: 2.5,
      events: [
        { type: 'BlockStored', block_hashes: [digest(9)], parent_block_hash: digest(8), token_ids: TOKENS.slice(0, 16), block_size: 16, lora_id: null, medium: 'GPU', lora_name: null },
        { type: 'BlockRemoved', block_hashes: [digest(9)], medium: 'CPU' },
        { type: 'AllBlocksCleared' },
      ],
      data_parallel_rank: 1,
    });
    const batch = decodeEventBatch(payload);
    expect(batch.dataParallelRank).to.equal(1);
    expect(batch.events.map((e) => e.type)).to.deep.equal(['BlockStored', 'BlockRemoved', 'AllBlocksCleared']);
    expect((batch.events[0] as any).parentBlockHash).to.equal('0808080808080808');
    expect((batch.events[1] as any).medium).to.equal('CPU');
  });

  it('rejects what is not a KVEventBatch', () => {
    expect(() => decodeEventBatch(Uint8Array.from([0xc1]))).to.throw(KvEventDecodeError);
    expect(() => decodeEventBatch(encode([0, [['BlockEvicted', []]]]))).to.throw(KvEventDecodeError, /unknown tag/);
    expect(() => decodeEventBatch(encode([0, 'x']))).to.throw(KvEventDecodeError, /events/);
    expect(() => decodeEventBatch(encode([0, [['BlockRemoved', ['not-a-hash'], 'GPU']]]))).to.throw(KvEventDecodeError, /block hash/);
    expect(() => decodeEventBatch(encode([0, [['BlockStored', [1], null, 'tokens', 16, null, 'GPU']]]))).to.throw(KvEventDecodeError);
  });
});
