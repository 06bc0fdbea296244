import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { MAX_EXACT_CHUNK_CHARS } from '../../../src/tokenizer/chunk-count.js';
import { HuggingFaceTokenizer } from '../../../src/tokenizer/huggingface.js';
import { openAiEncoding } from '../../../src/tokenizer/tiktoken.js';
import { seededText } from './seeded-text.js';

// Counting by chunks cut at spaces must give the whole text's count: js-tiktoken is the oracle.

const MIXED_ALPHABET = ['the', ' ', '  ', '\t', '\n', ' \n', 'Model', '42', '12345', ',', '.', "'s", "n't", ' (x)', 'é', '你好', '🎉', '\u00a0', '\u3000', '=='];
const mixed = (seed: number, length: number) => seededText(MIXED_ALPHABET, seed, length);

describe('tokenizer: counting by chunks', function () {
  this.timeout(60_000);
  for (const [name, ranks] of [['cl100k_base', cl100k], ['o200k_base', o200k]] as const) {
    it(`${name}: counts equal js-tiktoken's on 500 mixed texts and a 100 KB one, twice (memo cold and warm)`, () => {
      const enc = openAiEncoding(name);
      const oracle = new Tiktoken(ranks);
      const texts = Array.from({ length: 500 }, (_, i) => mixed(i + 1, 1 + (i % 300)));
      texts.push(mixed(999, 100_000));
      for (let round = 0; round < 2; round++) {
        for (const t of texts) expect(enc.count(t), JSON.stringify(t.slice(0, 40))).to.equal(oracle.encode(t, [], []).length);
      }
    });
  }

  it('estimates a run without spaces longer than the exact bound', () => {
    const enc = openAiEncoding('cl100k_base');
    const run = '1234567890'.repeat(MAX_EXACT_CHUNK_CHARS / 10 + 1);
    expect(enc.count(run)).to.equal(Math.ceil(run.length / 3));
    expect(enc.count(`hello ${run} world`)).to.equal(1 + Math.ceil((run.length + 1) / 3) + 1);
  });

  it('Hugging Face tokenizers count by chunks too, equal to their encoding', () => {
    const path = fileURLToPath(new URL('./fixtures/tiny-bytelevel.tokenizer.json', import.meta.url));
    const tok = HuggingFaceTokenizer.fromFile(path);
    for (let i = 0; i < 200; i++) {
      const t = mixed(i + 7, 1 + (i % 200));
      expect(tok.count(t), JSON.stringify(t)).to.equal(tok.encode(t).length);
    }
  });
});
