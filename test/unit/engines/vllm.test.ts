import { expect } from 'chai';
import { readLoraState, vllmAdapter } from '../../../src/engines/index.js';
import { parsePrometheusText } from '../../../src/metrics-fetcher/prom-parser.js';
import { defaultFakeState, renderMetrics, type FakeEngineState } from '../../support/fake-engine.js';
import { bump, fixture, scrapeOf, without } from './helpers.js';

const E0 = '{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"}';
const E1 = '{engine="1",model_name="meta-llama/Llama-3.1-8B-Instruct"}';
const OLD = '{model_name="mistralai/Mistral-7B-Instruct-v0.3"}';

function render(state: Partial<FakeEngineState>, engine: 'vllm' | 'vllm-old' = 'vllm'): string {
  return renderMetrics(engine, {
    state: { ...defaultFakeState(), ...state },
    running: state.running ?? 0,
    loraHistory: [],
    startedAt: 1_745_390_000,
  });
}

describe('engines/vllm', () => {
  describe('current (V1) names, data-parallel fixture', () => {
    const current = fixture('vllm-current.txt');

    it('sums counts and averages KV usage over label sets on a single scrape', () => {
      const m = vllmAdapter.toMetrics(scrapeOf(current));
      expect(m).to.include({ running: 8, waiting: 2, blockSize: 16, numGpuBlocks: 31257 });
      expect(m?.kvCacheUsage).to.be.closeTo((0.4217 + 0.1783) / 2, 1e-12);
      expect(m?.runningLoras).to.deep.equal([]);
      expect(m?.waitingLoras).to.deep.equal([]);
      // Interval values need a previous scrape.
      expect(m).to.not.have.any.keys('ttftSeconds', 'tpotSeconds', 'generationTokensPerSecond', 'prefixCacheHitRate');
    });

    it('averages TTFT and ITL over the interval from histogram deltas across engines', () => {
      let next = bump(current, `vllm:time_to_first_token_seconds_sum${E0}`, 3);
      next = bump(next, `vllm:time_to_first_token_seconds_count${E0}`, 10);
      next = bump(next, `vllm:time_to_first_token_seconds_sum${E1}`, 1);
      next = bump(next, `vllm:time_to_first_token_seconds_count${E1}`, 5);
      next = bump(next, `vllm:inter_token_latency_seconds_sum${E0}`, 2);
      next = bump(next, `vllm:inter_token_latency_seconds_count${E0}`, 100);
      const m = vllmAdapter.toMetrics(scrapeOf(next, 1500), scrapeOf(current, 1000));
      expect(m?.ttftSeconds).to.be.closeTo(4 / 15, 1e-9);
      expect(m?.tpotSeconds).to.be.closeTo(0.02, 1e-9);
    });

    it('leaves TTFT undefined when no request finished in the interval', () => {
      const m = vllmAdapter.toMetrics(scrapeOf(current, 1500), scrapeOf(current, 1000));
      expect(m?.ttftSeconds).to.equal(undefined);
      expect(m?.tpotSeconds).to.equal(undefined);
      expect(m?.generationTokensPerSecond).to.equal(0);
      expect(m?.prefixCacheHitRate).to.equal(undefined); // no queries in the interval
    });

    it('derives generation tokens/s and the prefix-cache hit rate from counter deltas', () => {
      let next = bump(current, `vllm:generation_tokens_total${E0}`, 600);
      next = bump(next, `vllm:generation_tokens_total${E1}`, 400);
      next = bump(next, `vllm:prefix_cache_queries_total${E0}`, 1000);
      next = bump(next, `vllm:prefix_cache_hits_total${E0}`, 250);
      next = bump(next, `vllm:prefix_cache_queries_total${E1}`, 1000);
      next = bump(next, `vllm:prefix_cache_hits_total${E1}`, 750);
      const m = vllmAdapter.toMetrics(scrapeOf(next, 2500), scrapeOf(current, 2000));
      expect(m?.generationTokensPerSecond).to.be.closeTo(2000, 1e-9);
      expect(m?.prefixCacheHitRate).to.be.closeTo(0.5, 1e-12);
    });

    it('treats a counter that went down as a restart: the new totals are the interval', () => {
      const before = render({ ttft: { sum: 500, count: 1000 }, generationTokens: 90_000 });
      const restarted = render({ ttft: { sum: 1.5, count: 3 }, generationTokens: 200 });
      const m = vllmAdapter.toMetrics(scrapeOf(restarted, 3000), scrapeOf(before, 2000));
      expect(m?.ttftSeconds).to.be.closeTo(0.5, 1e-12);
      expect(m?.generationTokensPerSecond).to.be.closeTo(200, 1e-9);
    });

    it('returns undefined for a page without vLLM gauges', () => {
      expect(vllmAdapter.toMetrics(scrapeOf(fixture('sglang.txt')))).to.equal(undefined);
      expect(vllmAdapter.toMetrics(scrapeOf('<html>not metrics</html>'))).to.equal(undefined);
    });

    it('sums over several model_name label sets', () => {
      const text = [
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{model_name="a"} 2.0',
        'vllm:num_requests_running{model_name="b"} 5.0',
        '# TYPE vllm:num_requests_waiting gauge',
        'vllm:num_requests_waiting{model_name="a"} 1.0',
        'vllm:num_requests_waiting{model_name="b"} NaN',
      ].join('\n');
      expect(vllmAdapter.toMetrics(scrapeOf(text))).to.include({ running: 7, waiting: 1, kvCacheUsage: 0 });
    });
  });

  describe('older (V0) names', () => {
    const old = fixture('vllm-old.txt');

    it('reads gpu_cache_usage_perc, the hit-rate gauge and the newest LoRA sample', () => {
      const m = vllmAdapter.toMetrics(scrapeOf(old));
      expect(m).to.include({ running: 7, waiting: 4, kvCacheUsage: 0.6523, blockSize: 16, numGpuBlocks: 27512 });
      expect(m?.prefixCacheHitRate).to.equal(0.3719);
      // The newest sample is the second line of three in the fixture, not the last.
      expect(m?.runningLoras).to.deep.equal(['sql-lora', 'tweet-lora']);
      expect(m?.waitingLoras).to.deep.equal(['chat-lora']);
      expect(m?.maxLoras).to.equal(4);
    });

    it('averages time_per_output_token_seconds when inter_token_latency_seconds is absent', () => {
      let next = bump(old, `vllm:time_per_output_token_seconds_sum${OLD}`, 6);
      next = bump(next, `vllm:time_per_output_token_seconds_count${OLD}`, 200);
      next = bump(next, `vllm:time_to_first_token_seconds_sum${OLD}`, 0.9);
      next = bump(next, `vllm:time_to_first_token_seconds_count${OLD}`, 3);
      const m = vllmAdapter.toMetrics(scrapeOf(next, 1250), scrapeOf(old, 1000));
      expect(m?.tpotSeconds).to.be.closeTo(0.03, 1e-9);
      expect(m?.ttftSeconds).to.be.closeTo(0.3, 1e-9);
    });

    it('prefers kv_cache_usage_perc over the deprecated gauge when both are exposed', () => {
      const both = [
        '# TYPE vllm:num_requests_running gauge',
        'vllm:num_requests_running{model_name="m"} 1.0',
        '# TYPE vllm:gpu_cache_usage_perc gauge',
        'vllm:gpu_cache_usage_perc{model_name="m"} 0.9',
        '# TYPE vllm:kv_cache_usage_perc gauge',
        'vllm:kv_cache_usage_perc{model_name="m"} 0.2',
      ].join('\n');
      expect(vllmAdapter.toMetrics(scrapeOf(both))?.kvCacheUsage).to.equal(0.2);
      expect(vllmAdapter.toMetrics(scrapeOf(without(both, 'vllm:kv_cache_usage_perc')))?.kvCacheUsage).to.equal(0.9);
    });
  });

  describe('LoRA state', () => {
    it('picks the sample with the newest value, whatever its position', () => {
      const families = parsePrometheusText(
        [
          '# TYPE vllm:lora_requests_info gauge',
          'vllm:lora_requests_info{max_lora="2",running_lora_adapters="new-a, new-b",waiting_lora_adapters=""} 1.7454e+09',
          'vllm:lora_requests_info{max_lora="2",running_lora_adapters="old",waiting_lora_adapters="w"} 1.7453e+09',
          'vllm:lora_requests_info{max_lora="2",running_lora_adapters="broken",waiting_lora_adapters=""} NaN',
        ].join('\n'),
      ).families;
      expect(readLoraState(families)).to.deep.equal({ runningLoras: ['new-a', 'new-b'], waitingLoras: [], maxLoras: 2 });
    });

    it('follows LoRA changes across scrapes of a pod whose old label sets linger', () => {
      const t1 = renderMetrics('vllm', {
        state: defaultFakeState(),
        running: 0,
        startedAt: 0,
        loraHistory: [
          { running: 'a', waiting: '', max: 4, setAt: 100 },
          { running: 'a,b', waiting: 'c', max: 4, setAt: 200 },
        ],
      });
      expect(vllmAdapter.toMetrics(scrapeOf(t1))?.runningLoras).to.deep.equal(['a', 'b']);
      const t2 = renderMetrics('vllm', {
        state: defaultFakeState(),
        running: 0,
        startedAt: 0,
        loraHistory: [
          { running: 'a', waiting: '', max: 4, setAt: 300 }, // the label set "a" became current again
          { running: 'a,b', waiting: 'c', max: 4, setAt: 200 },
        ],
      });
      const m = vllmAdapter.toMetrics(scrapeOf(t2));
      expect(m?.runningLoras).to.deep.equal(['a']);
      expect(m?.waitingLoras).to.deep.equal([]);
    });

    it('has no LoRA state without the metric, and no maxLoras without the label', () => {
      const families = parsePrometheusText('vllm:lora_requests_info{running_lora_adapters="x"} 5\n').families;
      expect(readLoraState(families)).to.deep.equal({ runningLoras: ['x'], waitingLoras: [] });
      expect(readLoraState(new Map())).to.deep.equal({ runningLoras: [], waitingLoras: [] });
    });
  });

  it('renders consistently with the fake engine for both generations', () => {
    for (const engine of ['vllm', 'vllm-old'] as const) {
      const before = render({ running: 2, waiting: 1, kvCacheUsage: 0.5, ttft: { sum: 1, count: 2 }, tpot: { sum: 1, count: 50 } }, engine);
      const after = render({ running: 2, waiting: 1, kvCacheUsage: 0.5, ttft: { sum: 2.2, count: 4 }, tpot: { sum: 2, count: 100 } }, engine);
      const m = vllmAdapter.toMetrics(scrapeOf(after, 1000), scrapeOf(before, 0));
      expect(m, engine).to.include({ running: 2, waiting: 1, kvCacheUsage: 0.5 });
      expect(m?.ttftSeconds, engine).to.be.closeTo(0.6, 1e-9);
      expect(m?.tpotSeconds, engine).to.be.closeTo(0.02, 1e-9);
    }
  });
});
