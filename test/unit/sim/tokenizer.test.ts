import { expect } from 'chai';
import { outputGenerator } from '../../../src/sim/output-text.js';
import { renderChat } from '../../../src/sim/prompt-template.js';
import { splitPieces, tokenize } from '../../../src/sim/tokenizer.js';

const PROSE =
  'The quick brown fox jumps over the lazy dog. Routing requests to the pod that already holds the prefix ' +
  'saves prefill work, and 12345 numbers, punctuation!? and newlines\nare tokens too.\n';

describe('sim tokenizer', () => {
  it('is deterministic and splits words, numbers and punctuation', () => {
    expect(tokenize(PROSE)).to.deep.equal(tokenize(PROSE));
    expect(splitPieces('Hello, world 2024!\n')).to.deep.equal(['Hello', ',', ' world', ' 202', '4', '!', '\n']);
    expect(splitPieces('internationalization')).to.deep.equal(['intern', 'ationa', 'lizati', 'on']);
    expect(tokenize('Hello')).to.not.deep.equal(tokenize('hello'));
  });

  it('gives equal token prefixes for equal text prefixes', () => {
    const head = 'System: you answer briefly.\n';
    const a = tokenize(head + 'What is a KV cache?');
    const b = tokenize(head + 'Explain prefix caching in detail.');
    const n = tokenize(head).length;
    expect(a.slice(0, n)).to.deep.equal(b.slice(0, n));
    expect(a[n]).to.not.equal(b[n]);
  });

  it('counts English prose near one token per 4-5 characters', () => {
    const text = PROSE.repeat(20);
    const ratio = text.length / tokenize(text).length;
    expect(ratio).to.be.within(3, 6);
  });

  it('tokenizes a 100 KB prompt quickly', () => {
    const text = PROSE.repeat(Math.ceil(100_000 / PROSE.length));
    const start = performance.now();
    const ids = tokenize(text);
    const ms = performance.now() - start;
    expect(ids.length).to.be.greaterThan(15_000);
    expect(ms).to.be.lessThan(500);
  });

  it('renders chat so a shared system prompt is a shared token prefix', () => {
    const system = { role: 'system', content: 'You are a terse assistant that knows routing.' };
    const a = tokenize(renderChat([system, { role: 'user', content: 'first question' }]));
    const b = tokenize(renderChat([system, { role: 'user', content: 'another one' }]));
    const shared = tokenize(renderChat([system]).replace(/<\|assistant\|>\n$/, '')).length;
    expect(shared).to.be.greaterThan(10);
    expect(a.slice(0, shared)).to.deep.equal(b.slice(0, shared));
  });

  it('generates text whose tokenization equals the generated token ids', () => {
    const next = outputGenerator(7, 12345);
    const tokens = Array.from({ length: 200 }, () => next());
    const text = tokens.map((t) => t.text).join('');
    expect(tokenize(text)).to.deep.equal(tokens.map((t) => t.id));
    // and so a chat's next turn, quoting the answer, extends the previous prompt token by token
    const turn1 = renderChat([{ role: 'user', content: 'hi' }]);
    const turn2 = renderChat([
      { role: 'user', content: 'hi' },
      { role: 'assistant', content: text },
      { role: 'user', content: 'more' },
    ]);
    const prefix = [...tokenize(turn1), ...tokens.map((t) => t.id)];
    expect(tokenize(turn2).slice(0, prefix.length)).to.deep.equal(prefix);
  });

  it('generates the same text for the same seed and prompt, different text otherwise', () => {
    const take = (seed: number, digest: number): string =>
      Array.from({ length: 30 }, outputGenerator(seed, digest)).map((t) => t.text).join('');
    expect(take(1, 99)).to.equal(take(1, 99));
    expect(take(1, 99)).to.not.equal(take(2, 99));
    expect(take(1, 99)).to.not.equal(take(1, 98));
  });
});
