import { estimatePieceTokens } from './bpe.js';
import { isCutBefore } from './text-cut.js';

// Counting by chunks: the text is cut where the tokenizer would split anyway (see text-cut.ts), so the chunks'
// counts add up to the text's. Natural text repeats its chunks (" the", " model,") constantly, so most are answered
// from a bounded memo without running the pre-tokenizer at all. A chunk longer than MAX_EXACT_CHUNK_CHARS is a run
// without spaces (a huge word, digits, symbols, a minified blob): it is estimated, as pieces too long to merge are,
// which keeps any text's cost linear with a small constant.

/** Longest space-free run counted exactly (UTF-16 units). */
export const MAX_EXACT_CHUNK_CHARS = 8192;
/** Chunks remembered (only short ones, so the memo stays a few MB); cleared when full. */
const MEMO_MAX_ENTRIES = 100_000;
const MEMO_MAX_CHUNK_CHARS = 64;
const SPACE_RUN = / +/y;

export class ChunkCounter {
  private readonly memo = new Map<string, number>();

  constructor(private readonly countExact: (chunk: string) => number) {}

  count(text: string): number {
    let n = 0;
    let start = 0;
    // Native scans (indexOf, a sticky regex over a run of spaces) keep long runs with or without spaces cheap.
    for (let i = text.indexOf(' ', 1); i > 0; ) {
      if (isCutBefore(text, i)) {
        n += this.chunk(text, start, i);
        start = i;
      }
      if (text.charCodeAt(i + 1) === 32) {
        SPACE_RUN.lastIndex = i;
        SPACE_RUN.test(text);
        i = SPACE_RUN.lastIndex;
      }
      i = text.indexOf(' ', i + 1);
    }
    return text.length === 0 ? 0 : n + this.chunk(text, start, text.length);
  }

  private chunk(text: string, start: number, end: number): number {
    const length = end - start;
    if (length > MAX_EXACT_CHUNK_CHARS) return estimatePieceTokens(Buffer.byteLength(text.slice(start, end), 'utf8'));
    const chunk = text.slice(start, end);
    if (length > MEMO_MAX_CHUNK_CHARS) return this.countExact(chunk);
    let n = this.memo.get(chunk);
    if (n === undefined) {
      n = this.countExact(chunk);
      if (this.memo.size >= MEMO_MAX_ENTRIES) this.memo.clear();
      this.memo.set(chunk, n);
    }
    return n;
  }
}
