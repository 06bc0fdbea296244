import { createRequire } from 'node:module';
import type { TiktokenBPE } from 'js-tiktoken/lite';
import { bpeMerge, MERGE_SHIFT } from './bpe.js';
import { PieceCache } from './piece-cache.js';
import type { Encoding } from './types.js';

// OpenAI encodings from js-tiktoken's rank files, run through our own merge loop (see bpe.ts for why). The rank
// files are plain data; requiring the CommonJS build keeps loading synchronous so `countTokens` can stay sync.

export type OpenAiEncodingName = 'cl100k_base' | 'o200k_base';

const require = createRequire(import.meta.url);

export class TiktokenEncoding implements Encoding {
  private readonly ranks = new Map<string, number>();
  private readonly textById: string[] = [];
  private readonly byteId = new Int32Array(256).fill(-1);
  private readonly pattern: RegExp;
  private readonly cache = new PieceCache();
  private readonly pairRank = (left: number, right: number): number => {
    const rank = this.ranks.get(this.textById[left]! + this.textById[right]!);
    return rank === undefined ? -1 : rank * MERGE_SHIFT + rank;
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
    let n = 0;
    for (const m of text.matchAll(this.pattern)) n += this.encodePiece(m[0]).length;
    return n;
  }

  private encodePiece(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const bytes = Buffer.from(piece, 'utf8').toString('latin1');
    const whole = this.ranks.get(bytes);
    const ids =
      whole !== undefined
        ? [whole]
        : bpeMerge(Array.from(bytes, (c) => this.byteId[c.charCodeAt(0)]!), this.pairRank);
    this.cache.set(piece, ids);
    return ids;
  }
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
