// 1 MB prompts for the tokenizer's bounded-cost figure (issue 12, item 6): English as the baseline, and shapes that
// used to blow up the BPE merge or defeat its caches. `fresh(i)` gives a different text per iteration where reusing
// one would let the piece cache hide the cost.

export interface TokenizerCase {
  name: string;
  fresh: (iteration: number) => string;
}

export const MB = 1024 * 1024;
/** Targets: any 1 MB prompt counted within this, and no adversarial one slower than English by more than RATIO. */
export const TARGET_MS = 50;
export const TARGET_RATIO = 3;

export function englishPrompt(chars: number): string {
  const words = 'The quick brown fox jumps over the lazy dog. Kubernetes schedules inference pods; vLLM serves them, 42 times.'.split(' ');
  let s = '';
  for (let i = 0; s.length < chars; i++) s += words[(i * 7) % words.length] + ' ';
  return s.slice(0, chars);
}

function random(seed: number): () => number {
  let x = seed;
  return () => (x = (x * 1103515245 + 12345) & 0x7fffffff) / 0x80000000;
}

function fromAlphabet(alphabet: string, chars: number, seed: number): string {
  const r = random(seed);
  const out = new Array<string>(chars);
  for (let i = 0; i < chars; i++) out[i] = alphabet[Math.floor(r() * alphabet.length)]!;
  return out.join('');
}

function distinctWords(chars: number, seed: number): string {
  const r = random(seed);
  let s = '';
  while (s.length < chars) {
    s += ' ';
    for (let i = 0; i < 8; i++) s += String.fromCharCode(97 + Math.floor(r() * 26));
  }
  return s.slice(0, chars);
}

export const ENGLISH: TokenizerCase = { name: 'English prose (baseline)', fresh: () => englishPrompt(MB) };

export const ADVERSARIAL: TokenizerCase[] = [
  { name: 'one 1 MB word (random letters)', fresh: (i) => fromAlphabet('abcdefghijklmnopqrstuvwxyz', MB, i + 1) },
  { name: 'one letter repeated', fresh: () => 'a'.repeat(MB) },
  { name: 'rare character repeated (emoji)', fresh: () => '\u{1F9EC}'.repeat(MB / 4) },
  { name: 'digit run', fresh: (i) => fromAlphabet('0123456789', MB, i + 11) },
  { name: 'symbol run', fresh: (i) => fromAlphabet('!#$%&*+-/<=>?@^_~|', MB, i + 21) },
  { name: 'whitespace run', fresh: () => ' '.repeat(MB - 1) + 'x' },
  { name: 'distinct 8-letter words (cache misses)', fresh: (i) => distinctWords(MB, i + 31) },
];
