import { hash } from 'node:crypto';

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
    return hash('sha256', this.serialize(v), 'buffer');
  }
}

/** Extra keys vLLM mixes into every block of a request: the LoRA adapter's name (multimodal inputs and cache_salt are not routed here). */
export function extraKeysFor(loraName: string | undefined): readonly string[] | null {
  return loraName ? [loraName] : null;
}

/**
 * One reusable byte buffer for every serialization: a block input is hashed as soon as it is written, so the next
 * one may overwrite it (hashing a block is then a few microseconds).
 */
class Writer {
  private buf = Buffer.alloc(4096);
  length = 0;

  reset(): this {
    this.length = 0;
    return this;
  }

  u8(b: number): void {
    if (this.length === this.buf.length) this.room(1);
    this.buf[this.length++] = b;
  }

  byte(...bytes: number[]): void {
    this.room(bytes.length);
    for (const b of bytes) this.buf[this.length++] = b;
  }

  bytes(src: Uint8Array): void {
    this.room(src.length);
    this.buf.set(src, this.length);
    this.length += src.length;
  }

  text(src: string): void {
    const n = Buffer.byteLength(src, 'utf8');
    this.room(n);
    this.length += this.buf.write(src, this.length, 'utf8');
  }

  view(): Uint8Array {
    return this.buf.subarray(0, this.length);
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
}

const writer = new Writer();

/** Canonical CBOR (RFC 8949 §4.2.1, as cbor2.dumps(canonical=True)) of the few types a block-hash input holds. */
function cbor(v: Value): Uint8Array {
  const w = writer.reset();
  const head = (major: number, n: number): void => {
    const m = major << 5;
    if (n < 24) w.u8(m | n);
    else if (n < 0x100) w.byte(m | 24, n);
    else if (n < 0x10000) w.byte(m | 25, n >> 8, n & 0xff);
    else if (n < 0x100000000) w.byte(m | 26, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
    else throw new RangeError('cbor: integer beyond 32 bits');
  };
  const put = (x: Value): void => {
    if (x === null) w.u8(0xf6);
    else if (typeof x === 'number') {
      if (!Number.isInteger(x)) throw new RangeError('cbor: only integers');
      if (x >= 0) head(0, x);
      else head(1, -1 - x);
    } else if (typeof x === 'string') {
      head(3, Buffer.byteLength(x, 'utf8'));
      w.text(x);
    } else if (x instanceof Uint8Array) {
      head(2, x.length);
      w.bytes(x);
    } else {
      head(4, x.tuple.length);
      for (const e of x.tuple) put(e);
    }
  };
  put(v);
  return w.view();
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

/** Frame header room: PROTO 5, then FRAME and its 8-byte length, written once the body's length is known. */
const PICKLE_HEADER = 11;

/** pickle.dumps(v, protocol=5) (Python's HIGHEST_PROTOCOL since 3.8), for the types a block-hash input holds. */
function pickle(v: Value): Uint8Array {
  const w = writer.reset();
  for (let i = 0; i < PICKLE_HEADER; i++) w.u8(0);
  const le32 = (n: number): void => w.byte(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  const put = (x: Value): void => {
    if (x === null) w.u8(PICKLE.NONE);
    else if (typeof x === 'number') {
      if (!Number.isSafeInteger(x)) throw new RangeError('pickle: not a safe integer');
      if (x >= 0 && x < 0x100) w.byte(PICKLE.BININT1, x);
      else if (x >= 0 && x < 0x10000) w.byte(PICKLE.BININT2, x & 0xff, x >> 8);
      else if (x >= -(2 ** 31) && x < 2 ** 31) w.byte(PICKLE.BININT), le32(x >>> 0);
      else {
        // LONG1: the shortest little-endian two's complement (token ids of stand-in tokenizers can exceed 2^31).
        const bytes: number[] = [];
        let n = BigInt(x);
        for (;;) {
          const byte = Number(n & 0xffn);
          bytes.push(byte);
          n >>= 8n;
          if ((n === 0n && (byte & 0x80) === 0) || (n === -1n && (byte & 0x80) !== 0)) break;
        }
        w.byte(PICKLE.LONG1, bytes.length, ...bytes);
      }
    } else if (typeof x === 'string') {
      const n = Buffer.byteLength(x, 'utf8');
      if (n < 0x100) w.byte(PICKLE.SHORT_BINUNICODE, n);
      else w.byte(PICKLE.BINUNICODE), le32(n);
      w.text(x);
      w.byte(PICKLE.MEMOIZE);
    } else if (x instanceof Uint8Array) {
      if (x.length >= 0x100) throw new RangeError('pickle: bytes longer than 255');
      w.byte(PICKLE.SHORT_BINBYTES, x.length);
      w.bytes(x);
      w.byte(PICKLE.MEMOIZE);
    } else if (x.tuple.length === 0) {
      w.byte(PICKLE.EMPTY_TUPLE);
    } else if (x.tuple.length <= 3) {
      for (const e of x.tuple) put(e);
      w.byte(PICKLE.TUPLE_N[x.tuple.length - 1]!, PICKLE.MEMOIZE);
    } else {
      w.byte(PICKLE.MARK);
      for (const e of x.tuple) put(e);
      w.byte(PICKLE.TUPLE, PICKLE.MEMOIZE);
    }
  };
  put(v);
  w.u8(PICKLE.STOP);
  const out = w.view();
  const body = out.length - PICKLE_HEADER;
  // Protocol 4+ wraps the opcodes in one frame (8-byte little-endian length) once they are at least 4 bytes long.
  if (body < 4) {
    out[PICKLE_HEADER - 2] = PICKLE.PROTO;
    out[PICKLE_HEADER - 1] = 5;
    return out.subarray(PICKLE_HEADER - 2);
  }
  out[0] = PICKLE.PROTO;
  out[1] = 5;
  out[2] = PICKLE.FRAME;
  Buffer.from(out.buffer, out.byteOffset, out.length).writeUInt32LE(body, 3); // the upper 4 length bytes stay 0
  return out;
}
