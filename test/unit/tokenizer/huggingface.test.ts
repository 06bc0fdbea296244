import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { HuggingFaceTokenizer } from '../../../src/tokenizer/huggingface.js';
import { toJsRegexSource } from '../../../src/tokenizer/regex-compat.js';

const FIXTURE = new URL('./fixtures/tiny-bytelevel.tokenizer.json', import.meta.url);
const raw = () => JSON.parse(readFileSync(FIXTURE, 'utf8')) as { model: Record<string, any>; [k: string]: any };

describe('tokenizer/huggingface', () => {
  const tok = HuggingFaceTokenizer.fromFile(FIXTURE.pathname);
  const vocab = raw().model.vocab as Record<string, number>;
  const ids = (...tokens: string[]) => tokens.map((t) => vocab[t]);

  it('applies merges in rank order', () => {
    expect(tok.encode('hello world the')).to.deep.equal(ids('hello', 'Ġworld', 'Ġthe'));
    // "l l" (rank 0) fires before "h e" (rank 5), so "hell" builds up through "ll" and "ell", not "he".
    expect(tok.encode('hell')).to.deep.equal(ids('hell'));
    expect(tok.encode('he')).to.deep.equal(ids('he'));
  });

  it('honours ignore_merges: a whole piece in the vocabulary is one token', () => {
    expect(tok.encode(' hello')).to.deep.equal(ids('Ġhello'));
    const json = raw();
    json.model.ignore_merges = false;
    const strict = new HuggingFaceTokenizer('strict', json);
    expect(strict.encode(' hello')).to.deep.equal(ids('Ġ', 'hello'));
  });

  it('accepts merges written as pairs (tokenizers >= 0.20)', () => {
    const json = raw();
    json.model.merges = (json.model.merges as string[]).map((m) => m.split(' '));
    expect(new HuggingFaceTokenizer('pairs', json).encode('hello world')).to.deep.equal(ids('hello', 'Ġworld'));
  });

  it('splits with the Llama-3 pattern: digits in groups of three, one byte per unmerged symbol', () => {
    expect(tok.count('12345')).to.equal(5);
    expect(tok.encode('12345')).to.deep.equal(ids('1', '2', '3', '4', '5'));
    expect(tok.count('naïve')).to.equal(Buffer.byteLength('naïve'));
  });

  it('recognises added tokens in the text', () => {
    expect(tok.encode('<|begin_of_text|>hello<|eot_id|>')).to.deep.equal([300, vocab.hello, 301]);
    expect(tok.count('<|begin_of_text|>')).to.equal(1);
  });

  it('normalizes to NFC before splitting', () => {
    const decomposed = 'e\u0301';
    expect(tok.count(decomposed)).to.equal(Buffer.byteLength('\u00e9'));
  });

  it('refuses tokenizers it cannot reproduce', () => {
    const wordPiece = raw();
    wordPiece.model.type = 'WordPiece';
    expect(() => new HuggingFaceTokenizer('wp', wordPiece)).to.throw(/unsupported.*WordPiece/);
    const metaspace = raw();
    metaspace.pre_tokenizer = { type: 'Metaspace', replacement: '▁' };
    expect(() => new HuggingFaceTokenizer('ms', metaspace)).to.throw(/Metaspace/);
    const sentencePiece = raw();
    sentencePiece.model.byte_fallback = true;
    expect(() => new HuggingFaceTokenizer('sp', sentencePiece)).to.throw(/byte_fallback/);
    const badMerge = raw();
    badMerge.model.merges = ['q z'];
    expect(() => new HuggingFaceTokenizer('bad', badMerge)).to.throw(/merge #0/);
    expect(() => HuggingFaceTokenizer.fromFile('/nonexistent/tokenizer.json')).to.throw(/cannot read/);
  });

  it('rewrites inline case-insensitive groups for V8', () => {
    const re = new RegExp(toJsRegexSource("(?i:'s|'ll)|\\p{L}+"), 'gu');
    expect("IT'S WE'LL".match(re)).to.deep.equal(['IT', "'S", 'WE', "'LL"]);
    const cls = new RegExp(`^${toJsRegexSource('(?i:[a-c]x)')}$`);
    expect(['ax', 'CX', 'bX'].every((s) => cls.test(s))).to.equal(true);
    expect(['dx', 'Dx', '_x', '[x'].some((s) => cls.test(s))).to.equal(false);
    expect(new RegExp(toJsRegexSource('(?i:[^a])')).test('A')).to.equal(false);
  });
});
