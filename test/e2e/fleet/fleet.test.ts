import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { EnvoyClient } from '../../support/envoy-client.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// End to end with real processes: a simulated fleet (three vLLM-like engines, one SGLang-like), the router, and
// clients no one here wrote (the official `openai` SDK) plus the Envoy-behaving ext_proc client.

const PORT = 18_100;
const VLLM = ['127.0.0.61', '127.0.0.62', '127.0.0.63'];
const SGLANG = '127.0.0.64';

const RESOURCES = documents(
  modelServerYaml('llama', {
    port: PORT,
    model: 'meta-llama/Llama-3.1-8B-Instruct',
    spec: ['  trafficPolicy: {timeout: 30s, retry: {attempts: 3, retryInterval: 10ms}}'],
  }),
  modelServerYaml('qwen', { port: PORT, engine: 'SGLang', model: 'Qwen/Qwen2.5-7B-Instruct' }),
  modelRouteYaml('llama', 'llama'),
  modelRouteYaml('qwen', 'qwen'),
  ...VLLM.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
  podYaml('qwen-0', SGLANG, 'qwen'),
);

describe('e2e: simulated fleet + router processes + official clients', function () {
  this.timeout(60_000);
  let dir: string;
  let sims: SimProcess[] = [];
  let router: RouterProcess;
  let openai: OpenAI;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-e2e-'));
    await writeFile(join(dir, 'fleet.yaml'), RESOURCES);
    await writeFile(join(dir, 'config.yaml'), 'metrics: {scrapeIntervalMs: 100}\n');
    const common = ['--time-scale', '0.05', '--max-tokens-cap', '64'];
    sims = await Promise.all([
      ...VLLM.map((ip, i) => startSimProcess(ip, PORT, [...common, '--model', 'meta-llama/Llama-3.1-8B-Instruct', '--seed', String(i + 1)])),
      startSimProcess(SGLANG, PORT, [...common, '--engine', 'sglang', '--model', 'Qwen/Qwen2.5-7B-Instruct']),
    ]);
    router = await startRouterProcess(['--resources', dir, '--config', join(dir, 'config.yaml')]);
    openai = new OpenAI({ baseURL: `http://127.0.0.1:${router.ports.http}/v1`, apiKey: 'unused', maxRetries: 0 });
  });

  after(async () => {
    await router?.stop();
    await Promise.all(sims.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  });

  it('serves a chat completion with usage, under the client-facing model name', async () => {
    const r = await openai.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 12 });
    expect(r.model).to.equal('llama');
    expect(r.choices[0]!.message.content).to.be.a('string').and.not.equal('');
    expect(r.usage).to.include({ completion_tokens: 12 });
    expect(r.usage!.prompt_tokens).to.be.greaterThan(0);
  });

  it('streams every token in order with a final usage chunk', async () => {
    const stream = await openai.chat.completions.create({
      model: 'qwen',
      messages: [{ role: 'user', content: 'Count for me' }],
      max_tokens: 20,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let contentChunks = 0;
    let usage: OpenAI.CompletionUsage | undefined;
    for await (const chunk of stream) {
      expect(chunk.model).to.equal('qwen');
      const delta = chunk.choices[0]?.delta?.content;
      if (delta) {
        text += delta;
        contentChunks++;
      }
      if (chunk.usage) usage = chunk.usage;
    }
    expect(usage?.completion_tokens).to.equal(20);
    expect(contentChunks).to.equal(20);
    expect(text.length).to.be.greaterThan(20);
  });

  it('serves legacy completions', async () => {
    const r = await openai.completions.create({ model: 'llama', prompt: 'Once upon a time', max_tokens: 8 });
    expect(r.choices[0]!.text).to.be.a('string').and.not.equal('');
    expect(r.usage?.completion_tokens).to.equal(8);
  });

  it('returns OpenAI errors the SDK understands', async () => {
    const err = await openai.chat.completions.create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] }).catch((e) => e);
    expect(err).to.be.instanceOf(OpenAI.NotFoundError);
    expect(err.code).to.equal('model_not_found');
    const bad = await fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, { method: 'POST', body: '{"model":' });
    expect(bad.status).to.equal(400);
    expect((await bad.json()).error.type).to.equal('invalid_request_error');
  });

  it('answers ext_proc with a pick among the fleet', async () => {
    const envoy = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    try {
      const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: { model: 'llama', messages: [{ role: 'user', content: 'hi' }] }, response: null });
      expect(t.outcome, t.reason).to.equal('routed');
      const picks = t.destination!.split(',');
      expect(picks).to.have.length(3);
      expect(picks.every((p) => VLLM.map((ip) => `${ip}:${PORT}`).includes(p))).to.equal(true);
    } finally {
      envoy.close();
    }
  });

  it('keeps serving when a pod is killed mid-run: requests fail over to the fallbacks', async () => {
    const results: Array<'ok' | string> = [];
    let killed = false;
    const worker = async () => {
      for (let i = 0; i < 12; i++) {
        if (!killed && results.length >= 8) {
          killed = true;
          await sims[0]!.kill('SIGKILL');
        }
        try {
          const r = await openai.chat.completions.create({ model: 'llama', messages: [{ role: 'user', content: `question ${i}` }], max_tokens: 4 });
          results.push(r.usage?.completion_tokens === 4 ? 'ok' : 'bad usage');
        } catch (err) {
          results.push(String(err));
        }
      }
    };
    await Promise.all([worker(), worker(), worker(), worker()]);
    expect(killed).to.equal(true);
    expect(results.filter((r) => r !== 'ok')).to.deep.equal([]);
    expect(results).to.have.length(48);
  });
});
