// The fake engine pods other suites rely on: their /metrics must be what the adapters read, and their OpenAI API
// must satisfy a real client.
import { expect } from 'chai';
import OpenAI from 'openai';
import { adapterFor } from '../../../src/engines/index.js';
import { startFakeEngine, type FakeEngine, type FakeEngineKind } from '../../support/fake-engine.js';
import { scrapeOf } from './helpers.js';

const HOST = '127.0.0.72';

describe('fake engine pods', () => {
  const pods: FakeEngine[] = [];
  afterEach(async () => {
    await Promise.all(pods.splice(0).map((p) => p.close()));
  });
  async function pod(engine: FakeEngineKind, state = {}): Promise<FakeEngine> {
    const p = await startFakeEngine({ host: HOST, engine, state });
    pods.push(p);
    return p;
  }

  it('serves each engine’s exposition format, readable by its adapter', async () => {
    const cases: Array<[FakeEngineKind, string]> = [
      ['vllm', 'vLLM'],
      ['vllm-old', 'vLLM'],
      ['sglang', 'SGLang'],
      ['tgi', 'TGI'],
    ];
    for (const [kind, engine] of cases) {
      const p = await pod(kind, { running: 3, waiting: 2, kvCacheUsage: 0.5 });
      const res = await fetch(p.metricsUrl);
      expect(res.headers.get('content-type'), kind).to.match(/^text\/plain; version=0\.0\.4/);
      const m = adapterFor(engine).toMetrics(scrapeOf(await res.text()));
      expect(m, kind).to.include({ running: 3, waiting: 2 });
      if (kind !== 'tgi') expect(m?.kvCacheUsage, kind).to.equal(0.5);
      expect(p.scrapes).to.equal(1);
    }
  });

  it('answers chat completions as JSON, naming the pod and echoing the model', async () => {
    const p = await pod('vllm', { completionTokens: 5 });
    const client = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'my-lora', messages: [{ role: 'user', content: 'hello there' }], max_tokens: 3 })
      .withResponse();
    expect(response.headers.get('x-fake-pod')).to.equal(p.address);
    expect(data.model).to.equal('my-lora');
    expect(data.choices[0]?.message.content).to.equal('tok0 tok1 tok2 ');
    expect(data.choices[0]?.finish_reason).to.equal('length');
    expect(data.usage?.completion_tokens).to.equal(3);
    expect(p.served).to.equal(1);
    expect(p.lastRequest?.path).to.equal('/v1/chat/completions');
    expect((p.lastRequest?.body as { model: string }).model).to.equal('my-lora');
  });

  it('streams SSE with a usage chunk only when asked for, as vLLM does', async () => {
    const p = await pod('sglang', { completionTokens: 4 });
    const client = new OpenAI({ baseURL: `${p.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const collect = async (includeUsage: boolean): Promise<{ text: string; usage: unknown }> => {
      const stream = await client.chat.completions.create({
        model: 'qwen',
        messages: [{ role: 'user', content: 'hi' }],
        stream: true,
        ...(includeUsage ? { stream_options: { include_usage: true } } : {}),
      });
      let text = '';
      let usage: unknown;
      for await (const chunk of stream) {
        text += chunk.choices[0]?.delta.content ?? '';
        if (chunk.usage) usage = chunk.usage;
        expect(chunk.model).to.equal('qwen');
      }
      return { text, usage };
    };
    const withUsage = await collect(true);
    expect(withUsage.text).to.equal('tok0 tok1 tok2 tok3 ');
    expect(withUsage.usage).to.deep.include({ completion_tokens: 4 });
    expect((await collect(false)).usage).to.equal(undefined);
    p.setState({ streamUsage: 'always' });
    expect((await collect(false)).usage).to.deep.include({ completion_tokens: 4 });
  });

  it('answers /v1/completions and reports failures and bad requests OpenAI-style', async () => {
    const p = await pod('tgi', { completionTokens: 2 });
    const ok = await fetch(`${p.url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'base', prompt: 'once upon' }),
    });
    const body = (await ok.json()) as { object: string; model: string; choices: Array<{ text: string }> };
    expect(body).to.deep.include({ object: 'text_completion', model: 'base' });
    expect(body.choices[0]?.text).to.equal('tok0 tok1 ');

    const bad = await fetch(`${p.url}/v1/completions`, { method: 'POST', body: '{not json' });
    expect(bad.status).to.equal(400);
    p.setState({ completionStatus: 503 });
    const failed = await fetch(`${p.url}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'x' }) });
    expect(failed.status).to.equal(503);
    expect(failed.headers.get('x-fake-pod')).to.equal(p.address);
    expect(((await failed.json()) as { object: string }).object).to.equal('error');
  });

  it('with trackLoad, counts completions in progress as running and records their tokens', async () => {
    const p = await pod('vllm', { trackLoad: true, completionDelayMs: 150, completionTokens: 3 });
    const adapter = adapterFor('vLLM');
    const pending = fetch(`${p.url}/v1/chat/completions`, {
      method: 'POST',
      body: JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'x' }] }),
    });
    await new Promise((r) => setTimeout(r, 50));
    const during = adapter.toMetrics(scrapeOf(await (await fetch(p.metricsUrl)).text()));
    expect(during?.running).to.equal(1);
    await (await pending).json();
    expect(p.state.generationTokens).to.equal(3);
    expect(p.state.ttft.count).to.equal(1);
    expect(p.state.ttft.sum).to.be.greaterThan(0.1);
    const after = adapter.toMetrics(scrapeOf(await (await fetch(p.metricsUrl)).text()));
    expect(after?.running).to.equal(0);
  });
});
