import { createHash } from 'node:crypto';

// vLLM's prefix-cache block hashing (vllm/v1/core/kv_cache_utils.py): block i's hash is
// hash_fn((parent_hash, tuple(token_ids), extra_keys)), where parent_hash is block i-1's 32-byte digest, or NONE_HASH
// for the first block, and extra_keys is None or a tuple (the LoRA adapter's name for adapter requests).
// NONE_HASH = hash_fn(seed): the engine's PYTHONHASHSEED when set, else (recent vLLM, sha256 variants) the fixed
// "vllm-none-hash". Supported hash_fn (--prefix-caching-hash-algo): `sha256` (SHA-256 of the pickle, protocol 5, of
// the tuple; vLLM's default) and `sha256_cbor` (SHA-256 of its canonical CBOR). xxhash variants are not: their seed
// is random per process unless PYTHONHASHSEED is set, and they need a library we do not ship.

export type VllmHashAlgo = 'sha256' | 'sha256_cbor';

export const SUPPORTED_HASH_ALGOS: readonly VllmHashAlgo[] = ['sha256', 'sha256_cbor'];

/** The seed recent vLLM uses for sha256 variants when PYTHONHASHSEED is unset. */
export const DEFAULT_NONE_HASH_SEED = 'vllm-none-hash';

type Value = null | string | number | Uint8Array | Tuple;
interface Tuple {
  tuple: readonly Value[];
}

export class VllmBlockHasher {
  readonly noneHash: Uint8Array;
  private readonly serialize: (v: Value) => Uint8Array;

  constructor(readonly algo: VllmHashAlgo, seed: string = DEFAULT_NONE_HASH_SEED) {
    this.serialize = algo === 'sha256' ? pickle : cbor;
    this.noneHash = this.digest(seed);
  }

  /** Digest of one block chained onto `parent` (null: the first block). */
  hashBlock(parent: Uint8Array | null, tokens: ArrayLike<number>, extraKeys: readonly string[] | null): Uint8Array {
    const value: Value = {
      tuple: [
        parent ?? this.noneHash,
        { tuple: Array.from(tokens) },
        extraKeys === null ? null : { tuple: extraKeys },
      ],
    };
    return this.digest(value);
  }

  /** Digests of the full blocks of `tokens`, at most `maxBlocks`. */
  blockHashes(tokens: ArrayLike<number>, blockSize: number, extraKeys: readonly string[] | null, maxBlocks = Infinity): Uint8Array[] {
    const n = Math.min(maxBlocks, Math.floor(tokens.length / blockSize));
    const out: Uint8Array[] = [];
    for (let b = 0; b < n; b++) {
      const block = Array.prototype.slice.call(tokens, b * blockSize, (b + 1) * blockSize) as number[];
      out.push(this.hashBlock(b === 0 ? null : out[b - 1]!, block, extraKeys));
    }
    return out;
  }

  private digest(v: Value): Uint8Array {
    return createHash('sha256').update(this.serialize(v)).digest();
  }
}

/** Extra keys vLLM mixes into every block of a request: the LoRA adapter's name (multimodal inputs and cache_salt are not routed here). */
export function extraKeysFor(loraName: string | undefined): readonly string[] | null {
  return loraName ? [loraName] : null;
}

/** Canonical CBOR (RFC 8949 §4.2.1, as cbor2.dumps(canonical=True)) of the few types a block-hash input holds. */
function cbor(v: Value): Uint8Array {
  const out: number[] = [];
  const head = (major: number, n: number): void => {
    const m = major << 5;
    if (n < 24) out.push(m | n);
    else if (n < 0x100) out.push(m | 24, n);
    else if (n < 0x10000) out.push(m | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) out.push(m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    else throw new RangeError('cbor: integer beyond 32 bits');
  };
  const put = (x: Value): void => {
    if (x === null) out.push(0xf6);
    else if (typeof x === 'number') {
      if (!Number.isInteger(x)) throw new RangeError('cbor: only integers');
      if (x >= 0) head(0, x);
      else head(1, -1 - x);
    } else if (typeof x === 'string') {
      const b = Buffer.from(x, 'utf8');
      head(3, b.length);
      for (const c of b) out.push(c);
    } else if (x instanceof Uint8Array) {
      head(2, x.length);
      for (const c of x) out.push(c);
    } else {
      head(4, x.tuple.length);
      for (const e of x.tuple) put(e);
    }
  };
  put(v);
  return Uint8Array.from(out);
}

const PICKLE = {
  PROTO: 0x80,
  FRAME: 0x95,
  STOP: 0x2e,
  NONE: 0x4e,
  MEMOIZE: 0x94,
  MARK: 0x28,
  TUPLE: 0x74,
  EMPTY_TUPLE: 0x29,
  TUPLE_N: [0x85, 0x86, 0x87] as const,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  LONG1: 0x8a,
  SHORT_BINBYTES: 0x43,
  SHORT_BINUNICODE: 0x8c,
  BINUNICODE: 0x58,
};

/** pickle.dumps(v, protocol=5) (Python's HIGHEST_PROTOCOL since 3.8), for the types a block-hash input holds. */
function pickle(v: Value): Uint8Array {
  const body: number[] = [];
  const le = (n: number, bytes: number): void => {
    for (let i = 0; i < bytes; i++) body.push(Number((BigInt(n) >> BigInt(8 * i)) & 0xffn));
  };
  const put = (x: Value): void => {
    if (x === null) body.push(PICKLE.NONE);
    else if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw new RangeError('pickle: not a safe integer');
      if (x >= 0 && x < 0x100) body.push(PICKLE.BININT1, x);
      else if (x >= 0 && x < 0x10000) body.push(PICKLE.BININT2, x & 0xff, x >> 8);
      else if (x >= -(2 ** 31) && x < 2 ** 31) body.push(PICKLE.BININT), le(x >>> 0, 4);
      else {
        // LONG1: the shortest little-endian two's complement (token ids of stand-in tokenizers can exceed 2^31).
        const bytes: number[] = [];
        let v = BigInt(x);
        for (;;) {
          const byte = Number(v & 0xffn);
          bytes.push(byte);
          v >>= 8n;
          if ((v === 0n && (byte & 0x80) === 0) || (v === -1n && (byte & 0x80) !== 0)) break;
        }
        body.push(PICKLE.LONG1, bytes.length, ...bytes);
      }
    } else if (typeof x === 'string') {
      const b = Buffer.from(x, 'utf8');
      if (b.length < 0x100) body.push(PICKLE.SHORT_BINUNICODE, b.length);
      else body.push(PICKLE.BINUNICODE), le(b.length, 4);
      for (const c of b) body.push(c);
      body.push(PICKLE.MEMOIZE);
    } else if (x instanceof Uint8Array) {
      if (x.length >= 0x100) throw new RangeError('pickle: bytes longer than 255');
      body.push(PICKLE.SHORT_BINBYTES, x.length);
      for (const c of x) body.push(c);
      body.push(PICKLE.MEMOIZE);
    } else if (x.tuple.length === 0) {
      body.push(PICKLE.EMPTY_TUPLE);
    } else if (x.tuple.length <= 3) {
      for (const e of x.tuple) put(e);
      body.push(PICKLE.TUPLE_N[x.tuple.length - 1]!, PICKLE.MEMOIZE);
    } else {
      body.push(PICKLE.MARK);
      for (const e of x.tuple) put(e);
      body.push(PICKLE.TUPLE, PICKLE.MEMOIZE);
    }
  };
  put(v);
  body.push(PICKLE.STOP);
  // Protocol 4+ wraps the opcodes in one frame (8-byte little-endian length) once they are at least 4 bytes long.
  const header = [PICKLE.PROTO, 5];
  if (body.length >= 4) {
    header.push(PICKLE.FRAME);
    for (let i = 0; i < 8; i++) header.push(i < 4 ? (body.length >>> (8 * i)) & 0xff : 0);
  }
  return Uint8Array.from([...header, ...body]);
}
