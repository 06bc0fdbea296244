import { expect } from 'chai';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import o200k from 'js-tiktoken/ranks/o200k_base';
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

  it('handles a 32 KB run of one letter in bounded time (js-tiktoken takes tens of seconds)', () => {
    const enc = openAiEncoding('cl100k_base');
    const t0 = performance.now();
    const n = enc.count('x'.repeat(32_000));
    expect(performance.now() - t0).to.be.below(4000);
    // The oracle on a run small enough for it, scaled: long runs of x merge into fixed-size tokens.
    expect(n).to.equal(new Tiktoken(cl100k).encode('x'.repeat(320)).length * 100);
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
