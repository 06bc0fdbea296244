import { expect } from 'chai';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { postJson } from './http-helpers.js';
import { parseProm, value, type PromFamily } from './prom-parse.js';

async function scrape(sim: SimulatorHandle): Promise<Map<string, PromFamily>> {
  const res = await fetch(`${sim.url}/metrics`);
  expect(res.status).to.equal(200);
  expect(res.headers.get('content-type')).to.match(/^text\/plain; version=0\.0\.4/);
  return parseProm(await res.text());
}

function expectTypes(families: Map<string, PromFamily>, types: Record<string, string>): void {
  for (const [name, type] of Object.entries(types)) {
    expect(families.get(name)?.type, name).to.equal(type);
  }
}

function checkHistogram(f: PromFamily): void {
  const buckets = f.samples.filter((s) => s.name.endsWith('_bucket'));
  expect(buckets.at(-1)!.labels.le).to.equal('+Inf');
  for (let i = 1; i < buckets.length; i++) expect(buckets[i]!.value).to.be.at.least(buckets[i - 1]!.value);
  const count = f.samples.find((s) => s.name.endsWith('_count'))!.value;
  expect(buckets.at(-1)!.value).to.equal(count);
}

const LONG_SYSTEM = 'Answer as a careful network engineer would. '.repeat(30);

describe('sim server: metrics', () => {
  describe('vLLM flavour', () => {
    let sim: SimulatorHandle;
    before(async () => {
      sim = await startSimulator({ model: 'llama-3-8b', loras: ['sql'], maxLoras: 1, kvBlocks: 2000, timeScale: 0.02 });
    });
    after(() => sim.close());

    it('serves vLLM names, types and labels that track the traffic', async () => {
      const before = await scrape(sim);
      const l = { model_name: 'llama-3-8b' };
      const chat = (user: string, max: number, model = 'llama-3-8b') =>
        postJson(`${sim.url}/v1/chat/completions`, {
          model,
          messages: [{ role: 'system', content: LONG_SYSTEM }, { role: 'user', content: user }],
          max_tokens: max,
        }).then((r) => r.json());
      const a = await chat('first', 5);
      const b = await chat('second', 3);
      const c = await chat('third', 2, 'sql');
      const after = await scrape(sim);

      expectTypes(after, {
        'vllm:num_requests_running': 'gauge',
        'vllm:num_requests_waiting': 'gauge',
        'vllm:kv_cache_usage_perc': 'gauge',
        'vllm:prefix_cache_queries_total': 'counter',
        'vllm:prefix_cache_hits_total': 'counter',
        'vllm:prompt_tokens_total': 'counter',
        'vllm:generation_tokens_total': 'counter',
        'vllm:num_preemptions_total': 'counter',
        'vllm:time_to_first_token_seconds': 'histogram',
        'vllm:inter_token_latency_seconds': 'histogram',
        'vllm:time_per_output_token_seconds': 'histogram',
        'vllm:e2e_request_latency_seconds': 'histogram',
        'vllm:lora_requests_info': 'gauge',
        'vllm:cache_config_info': 'gauge',
      });
      for (const f of after.values()) {
        if (f.name.startsWith('vllm:') && !f.name.endsWith('_info')) {
          for (const s of f.samples) expect(s.labels.model_name, s.name).to.equal('llama-3-8b');
        }
        if (f.type === 'histogram') checkHistogram(f);
      }

      const delta = (name: string) => value(after, name, l) - value(before, name, l);
      const prompt = a.usage.prompt_tokens + b.usage.prompt_tokens + c.usage.prompt_tokens;
      expect(delta('vllm:prompt_tokens_total')).to.equal(prompt);
      expect(delta('vllm:generation_tokens_total')).to.equal(10);
      expect(delta('vllm:prefix_cache_queries_total')).to.equal(prompt);
      // b shares a's system prompt; c runs on an adapter, whose KV differs
      expect(delta('vllm:prefix_cache_hits_total')).to.equal(b.usage.prompt_tokens_details.cached_tokens);
      expect(b.usage.prompt_tokens_details.cached_tokens).to.be.greaterThan(200);
      expect(c.usage.prompt_tokens_details.cached_tokens).to.equal(0);
      expect(delta('vllm:time_to_first_token_seconds_count')).to.equal(3);
      expect(delta('vllm:e2e_request_latency_seconds_count')).to.equal(3);
      expect(delta('vllm:inter_token_latency_seconds_count')).to.equal(4 + 2 + 1);
      expect(delta('vllm:time_to_first_token_seconds_sum')).to.be.greaterThan(0);
      expect(value(after, 'vllm:num_requests_running', l)).to.equal(0);
      expect(value(after, 'vllm:kv_cache_usage_perc', l)).to.equal(0);

      const cache = after.get('vllm:cache_config_info')!.samples;
      expect(cache).to.have.length(1);
      expect(cache[0]!.labels).to.include({ block_size: '16', num_gpu_blocks: '2000' });
      expect(cache[0]!.value).to.equal(1);

      const lora = after.get('vllm:lora_requests_info')!.samples;
      for (const s of lora) {
        expect(s.labels).to.have.keys('running_lora_adapters', 'waiting_lora_adapters', 'max_lora');
        expect(s.labels.max_lora).to.equal('1');
        expect(s.value).to.be.closeTo(Date.now() / 1000, 60);
      }
      expect(lora.some((s) => s.labels.running_lora_adapters === 'sql')).to.equal(true);
      const newest = lora.reduce((x, y) => (y.value > x.value ? y : x));
      expect(newest.labels.running_lora_adapters).to.equal(''); // idle now
    });

    it('reports running and waiting requests while busy', async () => {
      const slow = await startSimulator({ maxNumSeqs: 1, timeScale: 0.2 });
      const aborts = [new AbortController(), new AbortController()];
      try {
        const pending = aborts.map((c) =>
          postJson(`${slow.url}/v1/completions`, { prompt: 'x', max_tokens: 3000 }, { signal: c.signal }).catch(() => undefined),
        );
        const deadline = Date.now() + 3000;
        let m = await scrape(slow);
        while (value(m, 'vllm:num_requests_waiting', { model_name: slow.options.model }) < 1 && Date.now() < deadline) {
          await new Promise((r) => setTimeout(r, 10));
          m = await scrape(slow);
        }
        expect(value(m, 'vllm:num_requests_running', { model_name: slow.options.model })).to.equal(1);
        expect(value(m, 'vllm:num_requests_waiting', { model_name: slow.options.model })).to.equal(1);
        expect(value(m, 'vllm:kv_cache_usage_perc', { model_name: slow.options.model })).to.be.within(0, 1).and.above(0);
        for (const c of aborts) c.abort();
        await Promise.all(pending);
      } finally {
        await slow.close();
      }
    });

    it('omits lora_requests_info when no adapters are configured, as vLLM does', async () => {
      const plain = await startSimulator({ timeScale: 0.02 });
      try {
        const m = await scrape(plain);
        expect(m.has('vllm:lora_requests_info')).to.equal(false);
        expect(m.has('vllm:num_requests_running')).to.equal(true);
      } finally {
        await plain.close();
      }
    });
  });

  describe('SGLang flavour', () => {
    let sim: SimulatorHandle;
    before(async () => {
      sim = await startSimulator({ engine: 'sglang', model: 'qwen', timeScale: 0.02 });
    });
    after(() => sim.close());

    it("serves SGLang's names instead of vLLM's", async () => {
      const messages = [{ role: 'system', content: LONG_SYSTEM }, { role: 'user', content: 'q' }];
      await postJson(`${sim.url}/v1/chat/completions`, { messages, max_tokens: 20 });
      await postJson(`${sim.url}/v1/chat/completions`, { messages, max_tokens: 20 });
      const m = await scrape(sim);
      expectTypes(m, {
        'sglang:num_running_reqs': 'gauge',
        'sglang:num_queue_reqs': 'gauge',
        'sglang:token_usage': 'gauge',
        'sglang:cache_hit_rate': 'gauge',
        'sglang:gen_throughput': 'gauge',
        'sglang:prompt_tokens_total': 'counter',
        'sglang:generation_tokens_total': 'counter',
        'sglang:time_to_first_token_seconds': 'histogram',
        'sglang:inter_token_latency_seconds': 'histogram',
      });
      expect([...m.keys()].filter((k) => k.startsWith('vllm:'))).to.deep.equal([]);
      const l = { model_name: 'qwen' };
      expect(value(m, 'sglang:generation_tokens_total', l)).to.equal(40);
      expect(value(m, 'sglang:num_running_reqs', l)).to.equal(0);
      expect(value(m, 'sglang:cache_hit_rate', l)).to.be.within(0.3, 1);
      expect(value(m, 'sglang:gen_throughput', l)).to.be.greaterThan(0);
      expect(value(m, 'sglang:time_to_first_token_seconds_count', l)).to.equal(2);
      checkHistogram(m.get('sglang:inter_token_latency_seconds')!);
    });
  });
});
