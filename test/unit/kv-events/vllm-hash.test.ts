import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { VllmBlockHasher } from '../../../src/kv-events/vllm-hash.js';

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

// Reference digests computed with CPython 3 (pickle.dumps(x, protocol=pickle.HIGHEST_PROTOCOL) + hashlib.sha256),
// i.e. vLLM's `sha256` hash function, and the canonical-CBOR digest of the text "0" (vLLM's sha256_cbor NONE_HASH
// for PYTHONHASHSEED=0, a published cross-language test vector).
describe('kv-events: vLLM block hashing', () => {
  it('sha256 (pickle): NONE_HASH from the default and an explicit seed', () => {
    expect(hex(new VllmBlockHasher('sha256').noneHash)).to.equal('066b1e8987e027138e98701c46128929378935f9b6cd1549105ae6b4f0d71198');
    expect(hex(new VllmBlockHasher('sha256', '0').noneHash)).to.equal('1973e23848344dc43a988a9b478663803cfffe1243480253f9a3cf004b14aa7c');
  });

  it('sha256 (pickle): chained blocks, with every token-id width and a LoRA extra key', () => {
    const h = new VllmBlockHasher('sha256');
    const b1 = h.hashBlock(null, Array.from({ length: 16 }, (_, i) => i), null);
    expect(hex(b1)).to.equal('fe8fa5dda3210d0ca2031e37cbe3b001186773cd1c710beb2d45fcb51d434798');
    const tokens = [300, 70000, 5, 2 ** 31 - 1, 255, 256, 65535, 65536, 0, 1, 2, 3, 4, 5, 6, 7];
    expect(hex(h.hashBlock(b1, tokens, ['my-lora']))).to.equal('cca16a75bc86c36d64f9fc48b05473fa7118cd65e0cbbc2efb0db09f25f174a9');
    const both = h.blockHashes([...Array.from({ length: 16 }, (_, i) => i), ...tokens, 9, 9], 16, null);
    expect(both).to.have.length(2); // the partial third block is not hashed
    expect(hex(both[0]!)).to.equal(hex(b1));
    // Ids beyond 31 bits pickle as LONG1 (the simulator's stand-in tokenizer uses 32-bit ids).
    expect(hex(h.hashBlock(h.noneHash, [2 ** 31, 2 ** 32 - 1, 2 ** 40, -5, -300, 7], null))).to.equal(
      '7b7eaba3bbd7764e336d0ab4f57c91b155424731b643e9599547df0aa3890748',
    );
  });

  it('sha256_cbor: NONE_HASH test vector and the canonical CBOR of (parent, tokens, extra_keys)', () => {
    const h = new VllmBlockHasher('sha256_cbor', '0');
    expect(hex(h.noneHash)).to.equal('4e1195df020de59e0d65a33a4279f1183e7ae4e5d980e309f8b55adff2e61c3e');
    // [bytes(32) parent, [1, 24, 256, 70000], null] in canonical CBOR, hashed with SHA-256.
    const cbor = Buffer.concat([
      Buffer.from([0x83, 0x58, 0x20]), Buffer.from(h.noneHash),
      Buffer.from([0x84, 0x01, 0x18, 0x18, 0x19, 0x01, 0x00, 0x1a, 0x00, 0x01, 0x11, 0x70, 0xf6]),
    ]);
    expect(hex(h.hashBlock(null, [1, 24, 256, 70000], null))).to.equal(createHash('sha256').update(cbor).digest('hex'));
    const withLora = Buffer.concat([cbor.subarray(0, cbor.length - 1), Buffer.from([0x81, 0x62, 0x61, 0x62])]);
    expect(hex(h.hashBlock(null, [1, 24, 256, 70000], ['ab']))).to.equal(createHash('sha256').update(withLora).digest('hex'));
  });
});
