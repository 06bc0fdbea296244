import { expect } from 'chai';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { openAiEncoding } from '../../../src/tokenizer/tiktoken.js';
import { seededText } from './seeded-text.js';

// The short-piece scan and the long-piece heap must give js-tiktoken's ids exactly: counts of normal text are
// unchanged by the bounds added for hostile input.

const TEXT_ALPHABET = ['a', 'e', 'r', 't', 'Q', 'Z', ' ', '  ', '\n', '7', '42', '.', ',', "'s", '-', 'é', 'ß', '你', '🎉', '\t'];
const randomText = (seed: number, length: number) => seededText(TEXT_ALPHABET, seed, length);

describe('tokenizer/bpe merge loops', function () {
  this.timeout(30_000);
  for (const [name, ranks] of [['cl100k_base', cl100k], ['o200k_base', o200k]] as const) {
    it(`${name}: ids equal js-tiktoken's on 3,000 random texts (short and long pieces)`, () => {
      const enc = openAiEncoding(name);
      const oracle = new Tiktoken(ranks);
      for (let i = 0; i < 3000; i++) {
        const text = randomText(i + 1, 1 + (i % 97));
        expect(enc.encode(text), JSON.stringify(text)).to.deep.equal(oracle.encode(text, [], []));
      }
      // Pieces between the scan's and the heap's ranges, up to the exact bound.
      for (const n of [31, 32, 33, 64, 200, 511, 512]) {
        for (const text of ['q'.repeat(n), '='.repeat(n), ' '.repeat(n) + 'x', 'ab'.repeat(n >> 1)]) {
          expect(enc.encode(text), `${n} × ${text[0]}`).to.deep.equal(oracle.encode(text, [], []));
        }
      }
    });
  }
});
