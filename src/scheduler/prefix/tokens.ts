import { logger } from '../../observability/logger.js';
import { encodingFor } from '../../tokenizer/index.js';
import { nextCut } from '../../tokenizer/text-cut.js';

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
 * is how much of the text they cover. The text is encoded in chunks cut where the tokenizer would split anyway (see
 * src/tokenizer/text-cut.ts), so the chunks' tokens are the text's tokens and prompts sharing a prefix get the same
 * tokens for it.
 */
export function prefixTokens(encode: Encode, text: string, maxTokens: number, chunkChars = 4096): { tokens: number[]; chars: number } {
  const tokens: number[] = [];
  let pos = 0;
  while (pos < text.length && tokens.length < maxTokens) {
    const end = nextCut(text, pos + chunkChars, chunkChars);
    for (const id of encode(text.slice(pos, end))) tokens.push(id);
    pos = end;
  }
  return { tokens, chars: pos };
}
