import { mix32, seededRandom } from './hash.js';
import { pieceId } from './tokenizer.js';

// Deterministic "generated" text. Every emitted token is exactly one tokenizer piece (a word of at most 6 letters
// with its leading space, or one punctuation mark), so tokenizing the generated text gives back the same token ids:
// a later request that quotes this answer (the next chat turn) shares the cached blocks that held it.

const WORDS = [
  'the', 'of', 'and', 'to', 'in', 'is', 'that', 'for', 'it', 'as', 'with', 'be', 'by', 'on', 'not', 'this',
  'are', 'or', 'from', 'at', 'which', 'but', 'have', 'an', 'they', 'you', 'their', 'one', 'all', 'we', 'can',
  'has', 'there', 'been', 'if', 'more', 'when', 'will', 'would', 'so', 'no', 'model', 'token', 'cache', 'router',
  'server', 'query', 'answer', 'data', 'value', 'system', 'result', 'simple', 'random', 'fast', 'small', 'large',
  'time', 'first', 'next', 'state', 'point', 'block', 'prefix', 'batch', 'queue', 'load', 'route', 'memory',
  'speed', 'light', 'water', 'river', 'stone', 'field', 'garden', 'music', 'number', 'letter', 'paper', 'window',
];

export interface OutputToken {
  id: number;
  text: string;
}

export type OutputGenerator = () => OutputToken;

/** A generator seeded by the instance seed and a digest of the prompt: equal requests get equal answers. */
export function outputGenerator(seed: number, promptDigest: number): OutputGenerator {
  const random = seededRandom(mix32(seed ^ mix32(promptDigest)));
  let count = 0;
  let sentenceStart = true;
  return () => {
    let text: string;
    const r = random();
    if (!sentenceStart && count > 2 && r < 0.08) {
      text = '.';
      sentenceStart = true;
    } else if (!sentenceStart && count > 2 && r < 0.13) {
      text = ',';
    } else {
      let word = WORDS[Math.floor(random() * WORDS.length)]!;
      if (sentenceStart) word = word[0]!.toUpperCase() + word.slice(1);
      text = count === 0 ? word : ` ${word}`;
      sentenceStart = false;
    }
    count++;
    return { id: pieceId(text), text };
  };
}
