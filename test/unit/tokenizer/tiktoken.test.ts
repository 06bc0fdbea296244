import { expect } from 'chai';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
import { MAX_EXACT_PIECE_BYTES } from '../../../src/tokenizer/bpe.js';
import { openAiEncoding, openAiEncodingForModel } from '../../../src/tokenizer/tiktoken.js';

// js-tiktoken's own encoder is the oracle: our merge loop must produce identical ids.
const SAMPLES = [
  'Hello world! It\'s   a test.\n\n  indented line\r\n',
  'naïve café Über straße 你好世界 こんにちは 🎉🚀 mixed scripts',
  'function f(x) { return x ** 2 + 12345678.9; } // code',
  '<|endoftext|> is treated as text, not as a special token',
  "I'm sure we'll see they've DON'T YOU'LL",
  'a'.repeat(300),
  Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 7919) % 256)).toString('base64'),
  '   \t\t  \n\n\n   ',
  '',
];

describe('tokenizer/tiktoken', function () {
  this.timeout(20_000);
  const pairs = [
    ['cl100k_base', new Tiktoken(cl100k)],
    ['o200k_base', new Tiktoken(o200k)],
  ] as const;

  for (const [name, oracle] of pairs) {
    it(`${name}: token ids equal js-tiktoken's on varied text`, () => {
      const enc = openAiEncoding(name);
      for (const text of SAMPLES) {
        const expected = oracle.encode(text, [], []);
        expect(enc.encode(text), JSON.stringify(text.slice(0, 30))).to.deep.equal(expected);
        expect(enc.count(text)).to.equal(expected.length);
      }
    });
  }

  it('estimates a piece longer than the exact bound instead of merging it, and encodes it window by window', () => {
    const enc = openAiEncoding('cl100k_base');
    const oracle = new Tiktoken(cl100k);
    // Up to the bound: exact.
    const atBound = 'x'.repeat(MAX_EXACT_PIECE_BYTES);
    expect(enc.count(atBound)).to.equal(oracle.encode(atBound).length);
    // Beyond: one token per 3 bytes, and ids merged in windows of the bound.
    const long = 'x'.repeat(32_000);
    expect(enc.count(long)).to.equal(Math.ceil(32_000 / 3));
    const windows = Math.ceil(32_000 / MAX_EXACT_PIECE_BYTES);
    expect(enc.encode(long)).to.have.length(
      (windows - 1) * oracle.encode(atBound).length + oracle.encode('x'.repeat(32_000 % MAX_EXACT_PIECE_BYTES)).length,
    );
    // Multi-byte characters count by their UTF-8 bytes.
    expect(enc.count(' ' + '\u{1F600}'.repeat(1000))).to.equal(Math.ceil(4001 / 3));
  });

  it('counts 8 MB adversarial prompts in linear time', () => {
    const enc = openAiEncoding('cl100k_base');
    const size = 8 * 1024 * 1024;
    for (const text of ['x'.repeat(size), '\u{1F600}'.repeat(size / 4), ' '.repeat(size - 1) + 'x', '7'.repeat(size)]) {
      const t0 = performance.now();
      expect(enc.count(text)).to.be.above(0);
      // ~20 s before the bound; a few hundred ms after it, whatever the machine's load.
      expect(performance.now() - t0).to.be.below(5_000);
    }
  });

  it('maps models to encodings', () => {
    for (const m of ['gpt-4o', 'gpt-4o-mini', 'gpt-4.1-nano', 'o1', 'o3-mini', 'o4-mini', 'gpt-5', 'openai/gpt-4o']) {
      expect(openAiEncodingForModel(m), m).to.equal('o200k_base');
    }
    for (const m of ['gpt-4', 'gpt-3.5-turbo', 'meta-llama/Llama-3.1-8B', 'deepseek-r1', 'o1x']) {
      expect(openAiEncodingForModel(m), m).to.equal('cl100k_base');
    }
  });
});
