import { expect } from 'chai';
import { trtllmAdapter } from '../../../src/engines/index.js';
import { scrapeOf } from './helpers.js';

describe('engines/trtllm', () => {
  it('reads trtllm-serve gauges and latency histograms', () => {
    const page = (ttftSum: number, ttftCount: number): string =>
      [
        '# TYPE trtllm_num_requests_running gauge',
        'trtllm_num_requests_running{engine_type="trtllm",model_name="llama-8b"} 6.0',
        '# TYPE trtllm_num_requests_waiting gauge',
        'trtllm_num_requests_waiting{engine_type="trtllm",model_name="llama-8b"} 2.0',
        '# TYPE trtllm_kv_cache_utilization gauge',
        'trtllm_kv_cache_utilization{engine_type="trtllm",model_name="llama-8b"} 0.62',
        '# TYPE trtllm_kv_cache_tokens_per_block gauge',
        'trtllm_kv_cache_tokens_per_block{model_name="llama-8b"} 32.0',
        '# TYPE trtllm_kv_cache_max_blocks gauge',
        'trtllm_kv_cache_max_blocks{model_name="llama-8b"} 4096.0',
        '# TYPE trtllm_time_to_first_token_seconds histogram',
        `trtllm_time_to_first_token_seconds_sum{model_name="llama-8b"} ${ttftSum}`,
        `trtllm_time_to_first_token_seconds_count{model_name="llama-8b"} ${ttftCount}`,
      ].join('\n');
    const m = trtllmAdapter.toMetrics(scrapeOf(page(3, 10), 1000), scrapeOf(page(1, 6), 0));
    expect(m).to.include({ running: 6, waiting: 2, kvCacheUsage: 0.62, blockSize: 32, numGpuBlocks: 4096 });
    expect(m?.ttftSeconds).to.be.closeTo(0.5, 1e-12);
  });

  it('reads the Triton TensorRT-LLM backend families by their type labels', () => {
    const text = [
      '# HELP nv_trt_llm_request_metrics TRT LLM request metrics',
      '# TYPE nv_trt_llm_request_metrics gauge',
      'nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="context",version="1"} 1',
      'nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="scheduled",version="1"} 4',
      'nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="max",version="1"} 512',
      'nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="active",version="1"} 4',
      'nv_trt_llm_request_metrics{model="tensorrt_llm",request_type="waiting",version="1"} 3',
      '# HELP nv_trt_llm_kv_cache_block_metrics TRT LLM KV cache block metrics',
      '# TYPE nv_trt_llm_kv_cache_block_metrics gauge',
      'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="tokens_per",model="tensorrt_llm",version="1"} 64',
      'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="used",model="tensorrt_llm",version="1"} 1560',
      'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="free",model="tensorrt_llm",version="1"} 4680',
      'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="max",model="tensorrt_llm",version="1"} 6240',
      'nv_trt_llm_kv_cache_block_metrics{kv_cache_block_type="fraction",model="tensorrt_llm",version="1"} 0.25',
    ].join('\n');
    const m = trtllmAdapter.toMetrics(scrapeOf(text));
    expect(m).to.include({ running: 4, waiting: 3, kvCacheUsage: 0.25, blockSize: 64, numGpuBlocks: 6240 });
  });

  it('returns undefined for a page without TensorRT-LLM gauges', () => {
    expect(trtllmAdapter.toMetrics(scrapeOf('tgi_queue_size 3\n'))).to.equal(undefined);
  });
});
