import { logger } from '../../observability/logger.js';
import { encodingFor } from '../../tokenizer/index.js';

export type Encode = (text: string) => number[];

/**
 * Encoders from src/tokenizer (a model's tokenizer.json when registered, else an OpenAI encoding). Loading one is
 * synchronous and slow (up to a second), so a model's first request only schedules the load, off the decision path,
 * and is matched without tokens; preloading at startup avoids even that.
 */
export function lazyEncoders(): (model: string) => Encode | undefined {
  const ready = new Map<string, Encode | null>();
  return (model) => {
    if (ready.has(model)) return ready.get(model) ?? undefined;
    ready.set(model, null);
    setImmediate(() => {
      try {
        const enc = encodingFor(model);
        ready.set(model, (text) => enc.encode(text));
      } catch (err) {
        logger.warn({ model, err: String(err) }, 'kvcache-aware: no tokenizer for the model; its prompts match nothing');
      }
    });
    return undefined;
  };
}

/**
 * The first tokens of `text`, at least `maxTokens` when the text has that many, without tokenizing the rest; `chars`
 * is how much of the text they cover. The text is encoded in chunks cut just before a space that follows a non-space
 * character: byte-level BPE pre-tokenizers (tiktoken's, Llama 3's) never join text across such a cut, so the chunks'
 * tokens are the text's tokens. Cuts depend only on the text before them, so prompts sharing a prefix get the same
 * tokens for it. Text without spaces is cut at a fixed size instead: consistent between prompts, if not exactly the
 * engine's tokens at the cut.
 */
export function prefixTokens(encode: Encode, text: string, maxTokens: number, chunkChars = 4096): { tokens: number[]; chars: number } {
  const tokens: number[] = [];
  let pos = 0;
  while (pos < text.length && tokens.length < maxTokens) {
    const end = cut(text, pos + chunkChars, chunkChars);
    for (const id of encode(text.slice(pos, end))) tokens.push(id);
    pos = end;
  }
  return { tokens, chars: pos };
}

function cut(text: string, from: number, window: number): number {
  if (from >= text.length) return text.length;
  const limit = Math.min(text.length, from + window);
  for (let p = from; p < limit; p++) {
    if (text.charCodeAt(p) === 32 && !isSpace(text.charCodeAt(p - 1))) return p;
  }
  return limit;
}

function isSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x3000;
}
