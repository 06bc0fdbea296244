import { fnv1a } from './hash.js';

// A stand-in tokenizer: no vocabulary file, but stable, fast and prefix-preserving, which is all the simulator
// needs (token counts near a BPE tokenizer's, and equal text prefixes giving equal token prefixes).
//
// Pieces, tried in this order at each position:
//   - an optional single space plus up to 6 letters/marks (longer words continue in further 6-letter pieces),
//   - an optional single space plus up to 3 digits,
//   - an optional single space plus one other visible character (punctuation, symbol, emoji),
//   - a newline,
//   - up to 8 other whitespace characters.
// English prose comes out near 1 token per 4–5 characters, close to Llama 3's tokenizer. A piece's id is its
// FNV-1a hash, so the same piece always has the same id.
const PIECE = / ?[\p{L}\p{M}]{1,6}| ?\p{N}{1,3}| ?[^\s\p{L}\p{M}\p{N}]|\n|[^\S\n]{1,8}/gu;

/** Token id of one piece of text. */
export function pieceId(piece: string): number {
  return fnv1a(piece);
}

/** Splits text into its pieces (for inspection and tests). */
export function splitPieces(text: string): string[] {
  return text.match(PIECE) ?? [];
}

/** Token ids of a text. */
export function tokenize(text: string): number[] {
  const ids: number[] = [];
  PIECE.lastIndex = 0;
  for (let m = PIECE.exec(text); m !== null; m = PIECE.exec(text)) ids.push(pieceId(m[0]));
  return ids;
}
