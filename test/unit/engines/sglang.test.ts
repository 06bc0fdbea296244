import { expect } from 'chai';
import { sglangAdapter } from '../../../src/engines/index.js';
import { bump, fixture, scrapeOf, without } from './helpers.js';

const M = '{model_name="Qwen/Qwen2.5-7B-Instruct"}';

describe('engines/sglang', () => {
  const text = fixture('sglang.txt');

  it('reads running, queue, token usage, cache hit rate and throughput gauges', () => {
    const m = sglangAdapter.toMetrics(scrapeOf(text));
    expect(m).to.include({ running: 11, waiting: 6, kvCacheUsage: 0.28 });
    expect(m?.prefixCacheHitRate).to.be.closeTo(0.0075075526, 1e-9);
    expect(m?.generationTokensPerSecond).to.be.closeTo(1312.5738417, 1e-6);
    expect(m?.runningLoras).to.deep.equal([]);
    expect(m).to.not.have.any.keys('ttftSeconds', 'tpotSeconds');
  });

  it('averages TTFT and inter-token latency over the interval', () => {
    let next = bump(text, `sglang:time_to_first_token_seconds_sum${M}`, 2.5);
    next = bump(next, `sglang:time_to_first_token_seconds_count${M}`, 5);
    next = bump(next, `sglang:inter_token_latency_seconds_sum${M}`, 1.2);
    next = bump(next, `sglang:inter_token_latency_seconds_count${M}`, 80);
    const m = sglangAdapter.toMetrics(scrapeOf(next, 1500), scrapeOf(text, 1000));
    expect(m?.ttftSeconds).to.be.closeTo(0.5, 1e-9);
    expect(m?.tpotSeconds).to.be.closeTo(0.015, 1e-9);
  });

  it('falls back to the generation-token counter when the throughput gauge is missing', () => {
    const base = without(text, 'sglang:gen_throughput');
    const next = bump(base, `sglang:generation_tokens_total${M}`, 300);
    const m = sglangAdapter.toMetrics(scrapeOf(next, 1500), scrapeOf(base, 1000));
    expect(m?.generationTokensPerSecond).to.be.closeTo(600, 1e-9);
    expect(sglangAdapter.toMetrics(scrapeOf(base))).to.not.have.property('generationTokensPerSecond');
  });

  it('reads the older time_per_output_token histogram and page geometry when present', () => {
    const old = [
      '# TYPE sglang:num_running_reqs gauge',
      'sglang:num_running_reqs{name="m"} 1.0',
      '# TYPE sglang:time_per_output_token_seconds histogram',
      'sglang:time_per_output_token_seconds_sum{name="m"} 1.0',
      'sglang:time_per_output_token_seconds_count{name="m"} 10.0',
      '# TYPE sglang:cache_config_info gauge',
      'sglang:cache_config_info{num_pages="9000",page_size="64"} 1.0',
    ].join('\n');
    const next = old.replace('_sum{name="m"} 1.0', '_sum{name="m"} 3.0').replace('_count{name="m"} 10.0', '_count{name="m"} 50.0');
    const m = sglangAdapter.toMetrics(scrapeOf(next, 1), scrapeOf(old, 0));
    expect(m).to.include({ running: 1, waiting: 0, blockSize: 64, numGpuBlocks: 9000 });
    expect(m?.tpotSeconds).to.be.closeTo(0.05, 1e-12);
  });

  it('returns undefined for a page without SGLang gauges', () => {
    expect(sglangAdapter.toMetrics(scrapeOf(fixture('vllm-current.txt')))).to.equal(undefined);
  });
});
