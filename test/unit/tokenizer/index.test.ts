import { expect } from 'chai';
import { fileURLToPath } from 'node:url';
import {
  clearTokenizerRegistrations,
  closeTokenizer,
  configureTokenizer,
  countTokens,
  countTokensAsync,
  encodingFor,
  estimateTokens,
  registerTokenizerFile,
  tokenize,
  tokenizeAsync,
} from '../../../src/tokenizer/index.js';

const FIXTURE = fileURLToPath(new URL('./fixtures/tiny-bytelevel.tokenizer.json', import.meta.url));
const DEFAULTS = { syncLimitChars: 8192, workerTimeoutMs: 2000, maxQueued: 64 };

function bigPrompt(chars: number): string {
  const words = 'the quick brown fox jumps over the lazy dog; 12345 naïve 你好 return x+1;'.split(' ');
  let s = '';
  for (let i = 0; s.length < chars; i++) s += words[(i * 7) % words.length] + ' ';
  return s;
}

describe('tokenizer (public API)', function () {
  this.timeout(30_000);
  afterEach(() => {
    clearTokenizerRegistrations();
    configureTokenizer(DEFAULTS);
  });
  after(() => closeTokenizer());

  it('uses a registered tokenizer.json for matching models and OpenAI encodings otherwise', () => {
    registerTokenizerFile('acme/tiny-*', FIXTURE);
    expect(encodingFor('acme/tiny-8b').name).to.equal(FIXTURE);
    expect(countTokens('acme/tiny-8b', 'hello world')).to.equal(2);
    expect(encodingFor('gpt-4o').name).to.equal('o200k_base');
    expect(encodingFor('llama-other').name).to.equal('cl100k_base');
    expect(tokenize('gpt-4', 'hello world')).to.have.length(2);
    clearTokenizerRegistrations();
    expect(encodingFor('acme/tiny-8b').name).to.equal('cl100k_base');
  });

  it('rejects a missing tokenizer file at registration', () => {
    expect(() => registerTokenizerFile('m', '/nope/tokenizer.json')).to.throw(/cannot read/);
    expect(() => registerTokenizerFile('', FIXTURE)).to.throw(/modelPattern/);
  });

  it('counts big prompts in a worker thread with the exact result and a responsive event loop', async () => {
    configureTokenizer({ workerTimeoutMs: 25_000 });
    const text = bigPrompt(200_000);
    const exact = countTokens('gpt-4', text);
    await countTokensAsync('gpt-4', bigPrompt(10_000)); // start the worker and load its encoding

    let maxLag = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxLag = Math.max(maxLag, now - last);
      last = now;
    }, 5);
    const t0 = performance.now();
    const counted = await countTokensAsync('gpt-4', text);
    const elapsed = performance.now() - t0;
    clearInterval(timer);

    expect(counted).to.equal(exact);
    // The count itself took a while, yet timers kept firing: the work ran on another thread.
    expect(maxLag).to.be.below(Math.max(60, elapsed / 2));
    expect(await tokenizeAsync('gpt-4', text)).to.deep.equal(tokenize('gpt-4', text));
  });

  it('worker threads use registered tokenizer files too', async () => {
    configureTokenizer({ workerTimeoutMs: 25_000, syncLimitChars: 10 });
    registerTokenizerFile('acme/*', FIXTURE);
    const text = 'hello world '.repeat(50);
    expect(await countTokensAsync('acme/x', text)).to.equal(countTokens('acme/x', text));
  });

  it('falls back to a conservative estimate when the worker cannot take the job', async () => {
    configureTokenizer({ syncLimitChars: 10, maxQueued: 0 });
    const text = bigPrompt(5000);
    expect(await countTokensAsync('gpt-4', text)).to.equal(estimateTokens(text));
    expect(estimateTokens(text)).to.be.at.least(countTokens('gpt-4', text));
    expect(await tokenizeAsync('gpt-4', text)).to.equal(undefined);
  });
});
