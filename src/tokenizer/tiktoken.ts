import { createRequire } from 'node:module';
import type { TiktokenBPE } from 'js-tiktoken/lite';
import { bpeMergeBounded, estimatePieceTokens, MAX_EXACT_PIECE_BYTES, MERGE_SHIFT } from './bpe.js';
import { ChunkCounter } from './chunk-count.js';
import { PieceCache } from './piece-cache.js';
import type { Encoding } from './types.js';

// OpenAI encodings from js-tiktoken's rank files, run through our own merge loop (see bpe.ts for why). The rank
// files are plain data; requiring the CommonJS build keeps loading synchronous so `countTokens` can stay sync.

export type OpenAiEncodingName = 'cl100k_base' | 'o200k_base';

const require = createRequire(import.meta.url);
/** Pair lookups remembered; cleared when full (a few MB). */
const PAIR_MEMO_MAX = 200_000;

export class TiktokenEncoding implements Encoding {
  private readonly ranks = new Map<string, number>();
  private readonly textById: string[] = [];
  private readonly byteId = new Int32Array(256).fill(-1);
  private readonly pattern: RegExp;
  private readonly cache = new PieceCache();
  private readonly chunks = new ChunkCounter((chunk) => this.countPieces(chunk));
  // A rank file lists tokens, not merges: a pair's rank is its concatenation's. Building that string and hashing it
  // costs far more than a numeric lookup, and the same pairs come back constantly, hence the memo.
  private readonly pairMemo = new Map<number, number>();
  private readonly pairRank = (left: number, right: number): number => {
    const key = left * MERGE_SHIFT + right;
    let packed = this.pairMemo.get(key);
    if (packed === undefined) {
      const rank = this.ranks.get(this.textById[left]! + this.textById[right]!);
      packed = rank === undefined ? -1 : rank * MERGE_SHIFT + rank;
      if (this.pairMemo.size >= PAIR_MEMO_MAX) this.pairMemo.clear();
      this.pairMemo.set(key, packed);
    }
    return packed;
  };

  constructor(
    readonly name: string,
    data: TiktokenBPE,
  ) {
    this.pattern = new RegExp(data.pat_str, 'gu');
    // Rank file lines: "<tag> <first rank> <base64 token> <base64 token> ..." with consecutive ranks.
    for (const line of data.bpe_ranks.split('\n')) {
      const fields = line.split(' ');
      if (fields.length < 3) continue;
      let rank = Number.parseInt(fields[1]!, 10);
      for (let i = 2; i < fields.length; i++, rank++) {
        const bytes = Buffer.from(fields[i]!, 'base64').toString('latin1');
        this.ranks.set(bytes, rank);
        this.textById[rank] = bytes;
        if (bytes.length === 1) this.byteId[bytes.charCodeAt(0)] = rank;
      }
    }
    if (this.byteId.includes(-1)) throw new Error(`tokenizer ${name}: rank file lacks single-byte tokens`);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    for (const m of text.matchAll(this.pattern)) {
      for (const id of this.encodePiece(m[0])) out.push(id);
    }
    return out;
  }

  count(text: string): number {
    return this.chunks.count(text);
  }

  private countPieces(text: string): number {
    let n = 0;
    for (const m of text.matchAll(this.pattern)) {
      const piece = m[0];
      const long = piece.length * 3 > MAX_EXACT_PIECE_BYTES ? Buffer.byteLength(piece, 'utf8') : 0;
      n += long > MAX_EXACT_PIECE_BYTES ? estimatePieceTokens(long) : this.encodePiece(piece).length;
    }
    return n;
  }

  private encodePiece(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    // ASCII (nearly every piece) is its own UTF-8, read as latin1: no round trip through a Buffer.
    const bytes = isAscii(piece) ? piece : Buffer.from(piece, 'utf8').toString('latin1');
    const whole = this.ranks.get(bytes);
    const ids =
      whole !== undefined
        ? [whole]
        : bpeMergeBounded(Array.from(bytes, (c) => this.byteId[c.charCodeAt(0)]!), this.pairRank);
    // Long pieces stay out: their keys would pin megabytes.
    if (bytes.length <= MAX_EXACT_PIECE_BYTES) this.cache.set(piece, ids);
    return ids;
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

const loaded = new Map<OpenAiEncodingName, TiktokenEncoding>();

/** Loads (once, synchronously: ~0.3-1 s) and returns an OpenAI encoding. */
export function openAiEncoding(name: OpenAiEncodingName): TiktokenEncoding {
  let enc = loaded.get(name);
  if (!enc) {
    const data = require(`js-tiktoken/ranks/${name}`) as TiktokenBPE;
    enc = new TiktokenEncoding(name, data);
    loaded.set(name, enc);
  }
  return enc;
}

/** o200k_base for the GPT-4o / 4.1 / 4.5 / 5 and o-series families, cl100k_base for everything else. */
export function openAiEncodingForModel(model: string): OpenAiEncodingName {
  const m = model.toLowerCase().replace(/^openai\//, '');
  return /^(gpt-4o|gpt-4\.1|gpt-4\.5|gpt-5|chatgpt-4o|o1|o3|o4)(\b|-|$)/.test(m) ? 'o200k_base' : 'cl100k_base';
}
