// Where a long text may be cut into parts tokenized separately. Byte-level BPE pre-tokenizers (tiktoken's, Llama 3's,
// Qwen's) never join text across a space that follows a non-space character, so at such a cut the parts' tokens
// are the whole text's tokens. Cuts depend only on the text before them, so texts sharing a prefix are cut alike.

/**
 * The first such cut at or after `from`; `from + window` (never inside a surrogate pair) when the window has none,
 * which is consistent between texts if not exactly the whole text's tokens there; the text's end when it is near.
 */
export function nextCut(text: string, from: number, window: number): number {
  if (from >= text.length) return text.length;
  const limit = Math.min(text.length, from + window);
  for (let p = Math.max(from, 1); p < limit; p++) {
    if (isCutBefore(text, p)) return p;
  }
  if (limit >= text.length) return text.length;
  const c = text.charCodeAt(limit);
  return c >= 0xdc00 && c <= 0xdfff ? limit + 1 : limit;
}

/** Cuts `text` into parts of about `size` UTF-16 units (at most 2 × size) at safe cuts. */
export function cutText(text: string, size: number): string[] {
  if (text.length <= size) return [text];
  const parts: string[] = [];
  for (let pos = 0; pos < text.length; ) {
    const end = nextCut(text, pos + size, size);
    parts.push(text.slice(pos, end));
    pos = end;
  }
  return parts;
}

/** A space that follows a non-space character (p ≥ 1). */
export function isCutBefore(text: string, p: number): boolean {
  return text.charCodeAt(p) === 32 && !isSpace(text.charCodeAt(p - 1));
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000;
}
