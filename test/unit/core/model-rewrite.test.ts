import { expect } from 'chai';
import { ModelNameRewriter } from '../../../src/core/model-rewrite.js';

const UPSTREAM = 'meta-llama/Llama-3.1-8B-Instruct';
const sse = (model: string) =>
  [
    `data: {"id":"c1","object":"chat.completion.chunk","model":"${model}","choices":[{"delta":{"content":"日本語のテキスト"}}]}`,
    `data: {"id":"c1","object":"chat.completion.chunk","model": "${model}","choices":[{"delta":{"content":"ünïcödé 🚀"}}]}`,
    `data: {"id":"c1","usage":{"prompt_tokens":3},"model":"${model}"}`,
    'data: [DONE]',
    '',
  ].join('\n\n');

function run(r: ModelNameRewriter, input: Buffer, cuts: number[]): { out: Buffer; pieces: Buffer[] } {
  const pieces: Buffer[] = [];
  let from = 0;
  for (const cut of [...cuts, input.length]) {
    pieces.push(r.push(input.subarray(from, cut), cut === input.length));
    from = cut;
  }
  return { out: Buffer.concat(pieces), pieces };
}

describe('model name rewrite on responses', () => {
  it('rewrites every occurrence whatever the chunk boundaries, bytes intact (multi-byte characters too)', () => {
    const input = Buffer.from(sse(UPSTREAM));
    const expected = sse('llama');
    expect(Buffer.from(expected).includes(UPSTREAM)).to.equal(false);
    for (let a = 1; a < input.length; a += 3) {
      for (const b of [a + 1, a + 7, a + 40]) {
        const cuts = b < input.length ? [a, b] : [a];
        const { out } = run(new ModelNameRewriter(UPSTREAM, 'llama'), input, cuts);
        expect(out.toString('utf8'), `cuts ${cuts}`).to.equal(expected);
      }
    }
  });

  it('holds back only a tail that could begin the member, and flushes it at the end', () => {
    const r = new ModelNameRewriter(UPSTREAM, 'llama');
    expect(r.push(Buffer.from('{"id":1,"mod'), false).toString()).to.equal('{"id":1,');
    expect(r.push(Buffer.from('el":"meta'), false).toString()).to.equal('');
    expect(r.push(Buffer.from('-llama/Llama-3.1-8B-Instruct"}\n\n'), false).toString()).to.equal('"model":"llama"}\n\n');
    expect(r.push(Buffer.from('{"x":"'), false).toString()).to.equal('{"x":');
    expect(r.push(Buffer.alloc(0), true).toString()).to.equal('"');
  });

  it('leaves other models, other members and non-matching prefixes alone', () => {
    const r = new ModelNameRewriter('m', 'client');
    const text = '{"model":"m2","models":"m","model":"m","x":"model"}';
    expect(r.push(Buffer.from(text), true).toString()).to.equal('{"model":"m2","models":"m","model":"client","x":"model"}');
  });

  it('escapes names as JSON strings', () => {
    const r = new ModelNameRewriter('a"b', 'c\\d');
    expect(r.push(Buffer.from('{"model":"a\\"b"}'), true).toString()).to.equal('{"model":"c\\\\d"}');
  });
});
