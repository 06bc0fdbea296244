// One key per engine block hash, whatever form the engine sends it in. vLLM hashes blocks to 32-byte digests and
// publishes them as bytes, or, with VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES, as the digest's low 64 bits read big-endian
// (older engines published plain integers). Keying every form by those low 64 bits, as 16 hex digits, makes a
// digest we compute ourselves equal to the engine's hash in either form.

export type BlockKey = string;

const MASK_64 = (1n << 64n) - 1n;

/** The key of a hash given as bytes, an integer (number or bigint), or undefined if it is neither. */
export function blockKey(hash: unknown): BlockKey | undefined {
  if (hash instanceof Uint8Array) return hex64(hash);
  if (typeof hash === 'bigint') return (hash & MASK_64).toString(16).padStart(16, '0');
  if (typeof hash === 'number' && Number.isSafeInteger(hash)) return blockKey(BigInt(hash));
  return undefined;
}

/** The low 64 bits (last 8 bytes, big-endian) of a digest, as 16 hex digits. */
export function hex64(digest: Uint8Array): BlockKey {
  const tail = digest.subarray(Math.max(0, digest.length - 8));
  return Buffer.from(tail.buffer, tail.byteOffset, tail.length).toString('hex').padStart(16, '0');
}
