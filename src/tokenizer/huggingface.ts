import { readFileSync } from 'node:fs';
import { bpeMergeBounded, estimatePieceTokens, MAX_EXACT_PIECE_BYTES, MERGE_SHIFT } from './bpe.js';
import { ChunkCounter } from './chunk-count.js';
import { PieceCache } from './piece-cache.js';
import { toJsRegexSource } from './regex-compat.js';
import type { Encoding } from './types.js';

// Loader for byte-level BPE tokenizer.json files (Llama-3, Qwen2/2.5/3, DeepSeek-V3, Mistral Tekken, GPT-2 style).
// It covers what those files use: added tokens, Unicode normalizers, Split/ByteLevel/Digits pre-tokenizers and a BPE
// model with `ignore_merges`. Anything else (SentencePiece/Metaspace, WordPiece, byte_fallback) is refused at load
// time with a clear error instead of silently miscounting. Post-processors (BOS/EOS templates) are not applied: we
// count the text itself.

type Json = Record<string, unknown>;
type PreTokenize = (pieces: string[]) => string[];

/** GPT-2's reversible byte → printable character table used by byte-level vocabularies. */
function byteToUnicode(): string[] {
  const table: string[] = new Array(256);
  let extra = 0;
  for (let b = 0; b < 256; b++) {
    const printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
    table[b] = String.fromCharCode(printable ? b : 256 + extra++);
  }
  return table;
}
const BYTE_CHARS = byteToUnicode();
const GPT2_PATTERN = "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";

export class HuggingFaceTokenizer implements Encoding {
  private readonly vocab = new Map<string, number>();
  private readonly merges = new Map<number, number>();
  private readonly byteId = new Int32Array(256);
  private readonly ignoreMerges: boolean;
  private readonly addedTokens = new Map<string, number>();
  private readonly addedPattern: RegExp | undefined;
  private readonly normalize: (s: string) => string;
  private readonly preTokenize: PreTokenize;
  private readonly cache = new PieceCache();
  private readonly chunks = new ChunkCounter((chunk) => this.countPieces(chunk));
  private readonly pairRank = (left: number, right: number): number => this.merges.get(left * MERGE_SHIFT + right) ?? -1;

  static fromFile(path: string): HuggingFaceTokenizer {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`cannot read tokenizer file ${path}: ${(err as Error).message}`);
    }
    return new HuggingFaceTokenizer(path, json);
  }

  constructor(
    readonly name: string,
    raw: unknown,
  ) {
    const json = asObject(raw, 'tokenizer.json');
    const model = asObject(json.model, 'model');
    if (model.type !== undefined && model.type !== 'BPE') throw this.unsupported(`model type ${String(model.type)}`);
    if (model.byte_fallback === true) throw this.unsupported('byte_fallback (SentencePiece-style) BPE');
    this.ignoreMerges = model.ignore_merges === true;

    for (const [token, id] of Object.entries(asObject(model.vocab, 'model.vocab'))) {
      if (typeof id !== 'number' || !Number.isInteger(id) || id < 0 || id >= MERGE_SHIFT) {
        throw new Error(`${name}: bad id for vocabulary entry ${JSON.stringify(token)}`);
      }
      this.vocab.set(token, id);
    }
    for (let b = 0; b < 256; b++) {
      const id = this.vocab.get(BYTE_CHARS[b]!);
      if (id === undefined) throw this.unsupported('vocabulary without the 256 byte-level symbols');
      this.byteId[b] = id;
    }
    this.loadMerges(model.merges);

    for (const t of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
      const { content, id } = asObject(t, 'added_tokens[]');
      if (typeof content === 'string' && content !== '' && typeof id === 'number') this.addedTokens.set(content, id);
    }
    if (this.addedTokens.size > 0) {
      const alternatives = [...this.addedTokens.keys()].sort((a, b) => b.length - a.length).map(escapeRegex);
      this.addedPattern = new RegExp(alternatives.join('|'), 'g');
    }
    this.normalize = this.buildNormalizer(json.normalizer);
    const steps = this.buildPreTokenizer(json.pre_tokenizer);
    this.preTokenize = (pieces) => steps.reduce((acc, step) => step(acc), pieces);
  }

  encode(text: string): number[] {
    const out: number[] = [];
    this.forEachSegment(text, (segment, addedId) => {
      if (addedId !== undefined) {
        out.push(addedId);
        return;
      }
      for (const piece of this.preTokenize([this.normalize(segment)])) {
        for (const id of this.encodePiece(piece)) out.push(id);
      }
    });
    return out;
  }

  count(text: string): number {
    let n = 0;
    this.forEachSegment(text, (segment, addedId) => {
      if (addedId !== undefined) n++;
      else n += this.chunks.count(segment);
    });
    return n;
  }

  private countPieces(text: string): number {
    let n = 0;
    for (const piece of this.preTokenize([this.normalize(text)])) n += this.countPiece(piece);
    return n;
  }

  /** Splits out added tokens (as Hugging Face does before normalization) and visits text and tokens in order. */
  private forEachSegment(text: string, visit: (segment: string, addedId?: number) => void): void {
    if (!this.addedPattern) {
      if (text) visit(text);
      return;
    }
    let last = 0;
    for (const m of text.matchAll(this.addedPattern)) {
      if (m.index > last) visit(text.slice(last, m.index));
      visit(m[0], this.addedTokens.get(m[0]));
      last = m.index + m[0].length;
    }
    if (last < text.length) visit(text.slice(last));
  }

  /** Pieces too long to merge are estimated (see bpe.ts). */
  private countPiece(piece: string): number {
    const long = piece.length * 3 > MAX_EXACT_PIECE_BYTES ? Buffer.byteLength(piece, 'utf8') : 0;
    return long > MAX_EXACT_PIECE_BYTES ? estimatePieceTokens(long) : this.encodePiece(piece).length;
  }

  private encodePiece(piece: string): number[] {
    if (piece === '') return [];
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const bytes = Buffer.from(piece, 'utf8');
    let ids: number[] | undefined;
    if (this.ignoreMerges) {
      let mapped = '';
      for (const b of bytes) mapped += BYTE_CHARS[b];
      const whole = this.vocab.get(mapped);
      if (whole !== undefined) ids = [whole];
    }
    ids ??= bpeMergeBounded(Array.from(bytes, (b) => this.byteId[b]!), this.pairRank);
    // Long pieces stay out: their keys would pin megabytes.
    if (bytes.length <= MAX_EXACT_PIECE_BYTES) this.cache.set(piece, ids);
    return ids;
  }

  private loadMerges(raw: unknown): void {
    if (!Array.isArray(raw)) throw new Error(`${this.name}: model.merges must be a list`);
    raw.forEach((entry, rank) => {
      // Older files write "left right"; tokenizers >= 0.20 write ["left", "right"].
      const pair = typeof entry === 'string' ? splitMerge(entry) : entry;
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || typeof pair[1] !== 'string') {
        throw new Error(`${this.name}: bad merge #${rank}: ${JSON.stringify(entry)}`);
      }
      const left = this.vocab.get(pair[0]);
      const right = this.vocab.get(pair[1]);
      const merged = this.vocab.get(pair[0] + pair[1]);
      if (left === undefined || right === undefined || merged === undefined) {
        throw new Error(`${this.name}: merge #${rank} uses tokens missing from the vocabulary`);
      }
      const key = left * MERGE_SHIFT + right;
      if (!this.merges.has(key)) this.merges.set(key, rank * MERGE_SHIFT + merged);
    });
  }

  private buildNormalizer(raw: unknown): (s: string) => string {
    if (raw === null || raw === undefined) return (s) => s;
    const n = asObject(raw, 'normalizer');
    switch (n.type) {
      case 'NFC':
      case 'NFD':
      case 'NFKC':
      case 'NFKD': {
        const form = n.type;
        return (s) => s.normalize(form);
      }
      case 'Lowercase':
        return (s) => s.toLowerCase();
      case 'Sequence': {
        const parts = (Array.isArray(n.normalizers) ? n.normalizers : []).map((x) => this.buildNormalizer(x));
        return (s) => parts.reduce((acc, f) => f(acc), s);
      }
      default:
        throw this.unsupported(`normalizer ${String(n.type)}`);
    }
  }

  private buildPreTokenizer(raw: unknown): PreTokenize[] {
    if (raw === null || raw === undefined) return [];
    const p = asObject(raw, 'pre_tokenizer');
    switch (p.type) {
      case 'Sequence':
        return (Array.isArray(p.pretokenizers) ? p.pretokenizers : []).flatMap((x) => this.buildPreTokenizer(x));
      case 'Split': {
        if (p.invert === true) throw this.unsupported('inverted Split pre-tokenizer');
        const pattern = asObject(p.pattern, 'Split.pattern');
        const source =
          typeof pattern.Regex === 'string'
            ? toJsRegexSource(pattern.Regex)
            : typeof pattern.String === 'string'
              ? escapeRegex(pattern.String)
              : undefined;
        if (source === undefined) throw this.unsupported('Split pattern without Regex or String');
        return [splitter(new RegExp(source, 'gu'), String(p.behavior ?? 'Isolated'), this.name)];
      }
      case 'ByteLevel': {
        const steps: PreTokenize[] = [];
        if (p.add_prefix_space === true) {
          steps.push((pieces) => pieces.map((s, i) => (i === 0 && !s.startsWith(' ') ? ' ' + s : s)));
        }
        if (p.use_regex !== false) steps.push(splitter(new RegExp(GPT2_PATTERN, 'gu'), 'Isolated', this.name));
        return steps;
      }
      case 'Digits':
        return [splitter(p.individual_digits === true ? /\p{N}/gu : /\p{N}+/gu, 'Isolated', this.name)];
      default:
        throw this.unsupported(`pre-tokenizer ${String(p.type)}`);
    }
  }

  private unsupported(what: string): Error {
    return new Error(`${this.name}: unsupported tokenizer.json feature: ${what} (only byte-level BPE is supported)`);
  }
}

/** A Split pre-tokenizer step with Hugging Face's delimiter behaviours. */
function splitter(re: RegExp, behavior: string, name: string): PreTokenize {
  if (!['Isolated', 'Removed', 'MergedWithPrevious', 'MergedWithNext'].includes(behavior)) {
    throw new Error(`${name}: unsupported Split behavior ${behavior}`);
  }
  return (pieces) => {
    const out: string[] = [];
    for (const piece of pieces) {
      let last = 0;
      let carry = '';
      for (const m of piece.matchAll(re)) {
        if (m[0] === '') continue;
        const gap = piece.slice(last, m.index);
        last = m.index + m[0].length;
        if (behavior === 'Isolated') out.push(...[gap, m[0]].filter(Boolean));
        else if (behavior === 'Removed') {
          if (gap) out.push(gap);
        } else if (behavior === 'MergedWithPrevious') out.push(gap + m[0]);
        else {
          if (carry + gap) out.push(carry + gap);
          carry = m[0];
        }
      }
      const tail = carry + piece.slice(last);
      if (tail) out.push(tail);
    }
    return out;
  };
}

function splitMerge(s: string): string[] {
  const i = s.indexOf(' ', 1);
  return i < 0 ? [s] : [s.slice(0, i), s.slice(i + 1)];
}

function escapeRegex(s: string): string {
  return s.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&');
}

function asObject(v: unknown, what: string): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error(`tokenizer.json: ${what} must be an object`);
  return v as Json;
}
