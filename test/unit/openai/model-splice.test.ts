import { expect } from 'chai';
import { spliceModel } from '../../../src/openai/model-splice.js';

// Differential: whenever the splice answers, its bytes parse to the original object with only `model` replaced.

function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (s * 1664525 + 1013904223) >>> 0) / 2 ** 32);
}

const TRICKY = ['plain', 'a "quoted" word', 'back\\slash\\', 'ends with \\', '{"model":"fake"}', 'ünï 🚀 日本', '\n\t', '"model"', '\\"', ''];

function randomValue(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 2 ? 4 : 6));
  if (k === 0) return TRICKY[Math.floor(r() * TRICKY.length)]!.repeat(1 + Math.floor(r() * 3));
  if (k === 1) return Math.floor(r() * 1e6) / 100;
  if (k === 2) return [true, false, null][Math.floor(r() * 3)];
  if (k === 3) return 'x'.repeat(Math.floor(r() * 50));
  if (k === 4) return Array.from({ length: Math.floor(r() * 4) }, () => randomValue(r, depth + 1));
  const o: Record<string, unknown> = {};
  for (let i = 0; i < r() * 4; i++) o[['role', 'content', 'model', 'name', 'x"y', 'k\\'][Math.floor(r() * 6)]!] = randomValue(r, depth + 1);
  return o;
}

describe('model splice into the raw request body', () => {
  it('agrees with re-serialising on random bodies, whatever the member order, nesting and formatting', () => {
    const r = rng(42);
    let answered = 0;
    for (let i = 0; i < 3000; i++) {
      const body: Record<string, unknown> = {};
      const keys = ['messages', 'stream', 'model', 'temperature', 'tools', 'user'].sort(() => r() - 0.5);
      for (const key of keys) body[key] = key === 'model' ? TRICKY[i % TRICKY.length] : randomValue(r, 0);
      if (i % 7 === 0) delete body.model;
      const text = i % 3 === 0 ? JSON.stringify(body, null, i % 2 ? 2 : '\t') : JSON.stringify(body);
      const out = spliceModel(Buffer.from(text), 'meta-llama/Llama-3.1-8B-Instruct');
      if (!('model' in body)) {
        expect(out).to.equal(undefined);
        continue;
      }
      expect(out, text).not.to.equal(undefined);
      answered++;
      expect(JSON.parse(out!.toString())).to.deep.equal({ ...body, model: 'meta-llama/Llama-3.1-8B-Instruct' });
    }
    expect(answered).to.be.above(2000);
  });

  it('keeps every other byte of the body as the client sent it', () => {
    const raw = '{ "messages" : [{"role":"user","content":"hi \\u00e9"}],\n  "model":"llama" , "stream":true }';
    expect(spliceModel(Buffer.from(raw), 'm"x')!.toString()).to.equal(
      '{ "messages" : [{"role":"user","content":"hi \\u00e9"}],\n  "model":"m\\"x" , "stream":true }',
    );
  });

  it('finds an escaped member name and leaves the rest to re-serialising', () => {
    expect(JSON.parse(spliceModel(Buffer.from('{"mod\\u0065l":"a","x":1}'), 'b')!.toString())).to.deep.equal({ model: 'b', x: 1 });
    expect(spliceModel(Buffer.from('{"model":"a","model":"b"}'), 'c')).to.equal(undefined); // duplicates: the last wins
    expect(spliceModel(Buffer.from('{"model":"a","mod\\u0065l":"b"}'), 'c')).to.equal(undefined);
    expect(spliceModel(Buffer.from('{"model":42}'), 'c')).to.equal(undefined);
    expect(spliceModel(Buffer.from('[{"model":"a"}]'), 'c')).to.equal(undefined);
    expect(spliceModel(Buffer.from('{"x":{"model":"a"}}'), 'c')).to.equal(undefined);
    expect(spliceModel(Buffer.from('{}'), 'c')).to.equal(undefined);
  });
});
