import { expect } from 'chai';
import { createTgiAdapter, tgiAdapter } from '../../../src/engines/index.js';
import { bump, fixture, scrapeOf } from './helpers.js';

describe('engines/tgi', () => {
  const text = fixture('tgi.txt');

  it('reads batch size and queue size; KV usage is 0 (unknown) without a configured max', () => {
    const m = tgiAdapter.toMetrics(scrapeOf(text));
    expect(m).to.include({ running: 12, waiting: 3, kvCacheUsage: 0 });
    expect(m).to.not.have.any.keys('ttftSeconds', 'tpotSeconds', 'generationTokensPerSecond');
  });

  it('estimates KV usage from tgi_batch_current_max_tokens and --max-batch-total-tokens', () => {
    const adapter = createTgiAdapter({ maxBatchTotalTokens: 16384 });
    expect(adapter.toMetrics(scrapeOf(text))?.kvCacheUsage).to.be.closeTo(9830 / 16384, 1e-12);
    const over = createTgiAdapter({ maxBatchTotalTokens: 4096 });
    expect(over.toMetrics(scrapeOf(text))?.kvCacheUsage).to.equal(1);
  });

  it('rejects a non-positive maxBatchTotalTokens', () => {
    expect(() => createTgiAdapter({ maxBatchTotalTokens: 0 })).to.throw(/positive/);
    expect(() => createTgiAdapter({ maxBatchTotalTokens: Number.NaN })).to.throw(/positive/);
  });

  it('derives TTFT as mean queue time plus mean prefill time over the interval', () => {
    let next = bump(text, 'tgi_request_queue_duration_sum', 0.4);
    next = bump(next, 'tgi_request_queue_duration_count', 4);
    next = bump(next, 'tgi_batch_inference_duration_sum{method="prefill"}', 0.5);
    next = bump(next, 'tgi_batch_inference_duration_count{method="prefill"}', 2);
    next = bump(next, 'tgi_batch_inference_duration_sum{method="decode"}', 100); // must not leak into TTFT
    next = bump(next, 'tgi_batch_inference_duration_count{method="decode"}', 1);
    next = bump(next, 'tgi_request_mean_time_per_token_duration_sum', 0.09);
    next = bump(next, 'tgi_request_mean_time_per_token_duration_count', 4);
    next = bump(next, 'tgi_request_generated_tokens_sum', 512);
    next = bump(next, 'tgi_request_generated_tokens_count', 4);
    const m = tgiAdapter.toMetrics(scrapeOf(next, 2000), scrapeOf(text, 1000));
    expect(m?.ttftSeconds).to.be.closeTo(0.1 + 0.25, 1e-9);
    expect(m?.tpotSeconds).to.be.closeTo(0.0225, 1e-9);
    expect(m?.generationTokensPerSecond).to.be.closeTo(512, 1e-9);
  });

  it('has no TTFT when no request left the queue in the interval', () => {
    const next = bump(text, 'tgi_batch_inference_duration_count{method="prefill"}', 2);
    expect(tgiAdapter.toMetrics(scrapeOf(next, 2000), scrapeOf(text, 1000))?.ttftSeconds).to.equal(undefined);
  });

  it('returns undefined for a page without TGI gauges', () => {
    expect(tgiAdapter.toMetrics(scrapeOf(fixture('sglang.txt')))).to.equal(undefined);
  });
});
