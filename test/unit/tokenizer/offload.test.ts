import { expect } from 'chai';
import { availableParallelism } from 'node:os';
import { defaultWorkerCount } from '../../../src/tokenizer/index.js';
import { TokenizerWorkerPool, type OffloadOptions } from '../../../src/tokenizer/offload.js';
import { openAiEncoding } from '../../../src/tokenizer/tiktoken.js';

// The worker pool behind countTokensAsync: bounded queue, work dropped when its request is over, slices served
// round-robin so a huge prompt does not hold up small ones, several threads.

/** Distinct random words: every piece misses the caches, the most expensive text per byte. */
function randomWords(seed: number, chars: number): string {
  let x = seed;
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    let w = ' ';
    for (let i = 0; i < 8; i++) {
      x = (x * 1103515245 + 12345) & 0x7fffffff;
      w += String.fromCharCode(97 + (x % 26));
    }
    out.push(w);
    length += w.length;
  }
  return out.join('');
}

describe('tokenizer worker pool', function () {
  this.timeout(120_000);
  let pool: TokenizerWorkerPool;
  const opts: OffloadOptions = { timeoutMs: 60_000, maxQueued: 64, workers: 1, sliceChars: 64 * 1024 };

  beforeEach(async () => {
    Object.assign(opts, { timeoutMs: 60_000, maxQueued: 64, workers: 1, sliceChars: 64 * 1024 });
    pool = new TokenizerWorkerPool(() => [], () => opts);
    await pool.run('count', 'gpt-4', 'warm up'); // start the thread and load its tables
  });
  afterEach(() => pool.stop());

  it('defaults to one thread per core but one, at most four', () => {
    expect(defaultWorkerCount()).to.equal(Math.max(1, Math.min(4, availableParallelism() - 1)));
  });

  it('counts a prompt cut into slices exactly', async () => {
    const text = randomWords(7, 300_000);
    expect(await pool.run('count', 'gpt-4', text)).to.equal(openAiEncoding('cl100k_base').count(text));
  });

  it('drops the rest of a job whose request went away: the thread is free again at once', async () => {
    const heavy = (seed: number) => randomWords(seed, 4 * 1024 * 1024);
    let t0 = performance.now();
    expect(await pool.run('count', 'gpt-4', heavy(1))).to.be.a('number');
    const whole = performance.now() - t0;

    const abort = new AbortController();
    const dropped = pool.run('count', 'gpt-4', heavy(2), abort.signal);
    await new Promise((r) => setTimeout(r, 20));
    abort.abort();
    expect(await dropped).to.equal(undefined);
    expect(pool.pending).to.equal(0);
    t0 = performance.now();
    expect(await pool.run('count', 'gpt-4', 'a small prompt after it')).to.equal(5);
    // At most the slice in progress is finished; without dropping, the whole heavy job would be.
    expect(performance.now() - t0).to.be.below(whole / 3);
  });

  it('drops a job at its deadline the same way', async () => {
    opts.timeoutMs = 30;
    expect(await pool.run('count', 'gpt-4', randomWords(3, 4 * 1024 * 1024))).to.equal(undefined);
    expect(pool.pending).to.equal(0);
  });

  it('refuses a job at once when maxQueued jobs are in the pool', async () => {
    opts.maxQueued = 2;
    const a = pool.run('count', 'gpt-4', randomWords(4, 500_000));
    const b = pool.run('count', 'gpt-4', randomWords(5, 500_000));
    expect(pool.pending).to.equal(2);
    expect(await pool.run('count', 'gpt-4', 'refused')).to.equal(undefined);
    expect(await a).to.be.a('number');
    expect(await b).to.be.a('number');
    expect(await pool.run('count', 'gpt-4', 'accepted again')).to.equal(2);
  });

  it('serves slices round-robin: a small prompt queued behind a huge one finishes first', async () => {
    const order: string[] = [];
    const huge = pool.run('count', 'gpt-4', randomWords(6, 4 * 1024 * 1024)).then(() => order.push('huge'));
    const small = pool.run('count', 'gpt-4', randomWords(8, 20_000)).then(() => order.push('small'));
    await Promise.all([huge, small]);
    expect(order).to.deep.equal(['small', 'huge']);
  });

  it('runs jobs on several threads when configured', async () => {
    opts.workers = 2;
    const jobs = [pool.run('count', 'gpt-4', randomWords(9, 200_000)), pool.run('count', 'gpt-4', randomWords(10, 200_000))];
    expect(pool.threads).to.equal(2);
    for (const n of await Promise.all(jobs)) expect(n).to.be.a('number');
  });
});
