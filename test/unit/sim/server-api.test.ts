import { expect } from 'chai';
import OpenAI from 'openai';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { renderChat } from '../../../src/sim/prompt-template.js';
import { tokenize } from '../../../src/sim/tokenizer.js';
import { postJson, readSse } from './http-helpers.js';

const MESSAGES = [
  { role: 'system', content: 'You are a helpful assistant for routing questions.' },
  { role: 'user', content: 'Which pod should serve this request?' },
];

describe('sim server: OpenAI API', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startSimulator({ model: 'llama-3-8b', loras: ['sql', 'chat'], maxLoras: 2, timeScale: 0.02 });
  });
  after(() => sim.close());

  const chatUrl = () => `${sim.url}/v1/chat/completions`;

  it('streams chat completions as OpenAI chunks with a usage chunk and [DONE]', async () => {
    const res = await postJson(chatUrl(), {
      model: 'llama-3-8b',
      messages: MESSAGES,
      max_tokens: 7,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/event-stream/);
    const frames = await readSse(res);
    expect(frames.at(-1)).to.equal('[DONE]');
    const chunks = frames.slice(0, -1).map((f) => JSON.parse(f));
    for (const c of chunks) {
      expect(c).to.include({ object: 'chat.completion.chunk', model: 'llama-3-8b', id: chunks[0].id });
      expect(c.id).to.match(/^chatcmpl-/);
    }
    expect(chunks[0].choices[0].delta).to.deep.equal({ role: 'assistant', content: '' });
    const content = chunks.slice(1, -1);
    expect(content).to.have.length(7);
    content.forEach((c, i) => {
      expect(c.choices[0].finish_reason).to.equal(i === 6 ? 'length' : null);
      expect(c.choices[0].delta.content).to.be.a('string').and.not.equal('');
    });
    const usageChunk = chunks.at(-1);
    expect(usageChunk.choices).to.deep.equal([]);
    const promptTokens = tokenize(renderChat(MESSAGES)).length;
    expect(usageChunk.usage).to.include({ prompt_tokens: promptTokens, completion_tokens: 7, total_tokens: promptTokens + 7 });

    // the same request without streaming returns the same text
    const json = await (await postJson(chatUrl(), { model: 'llama-3-8b', messages: MESSAGES, max_tokens: 7 })).json();
    expect(json.choices[0].message.content).to.equal(content.map((c) => c.choices[0].delta.content).join(''));
  });

  it('answers non-streaming chat with usage, reporting prefix-cache hits as cached tokens', async () => {
    const messages = [{ role: 'system', content: 'Shared system prompt. '.repeat(40) }, { role: 'user', content: 'one' }];
    const first = await (await postJson(chatUrl(), { messages, max_completion_tokens: 5 })).json();
    expect(first).to.include({ object: 'chat.completion', model: 'llama-3-8b' });
    expect(first.choices[0]).to.include({ index: 0, finish_reason: 'length' });
    expect(first.choices[0].message.role).to.equal('assistant');
    const u = first.usage;
    expect(u.completion_tokens).to.equal(5);
    expect(u.total_tokens).to.equal(u.prompt_tokens + u.completion_tokens);
    expect(u.prompt_tokens_details.cached_tokens).to.equal(0);
    const again = await (await postJson(chatUrl(), { messages: [messages[0], { role: 'user', content: 'two' }], max_tokens: 5 })).json();
    expect(again.usage.prompt_tokens_details.cached_tokens).to.be.greaterThan(100);
  });

  it('serves /v1/completions with text prompts and token-id prompts, streaming without usage', async () => {
    const res = await postJson(`${sim.url}/v1/completions`, { model: 'sql', prompt: 'SELECT', max_tokens: 3, stream: true });
    const frames = await readSse(res);
    expect(frames).to.have.length(4);
    expect(frames[3]).to.equal('[DONE]');
    const chunks = frames.slice(0, 3).map((f) => JSON.parse(f));
    for (const c of chunks) expect(c).to.include({ object: 'text_completion', model: 'sql' });
    expect(chunks[2].choices[0]).to.include({ finish_reason: 'length' });
    expect(chunks[0].choices[0].text).to.be.a('string');

    const ids = await (await postJson(`${sim.url}/v1/completions`, { prompt: [1, 2, 3, 4, 5], max_tokens: 2 })).json();
    expect(ids.usage).to.include({ prompt_tokens: 5, completion_tokens: 2 });
    expect(ids.choices[0].text).to.be.a('string');
  });

  it('uses the default output length when max_tokens is absent and caps large requests', async () => {
    const body = await (await postJson(`${sim.url}/v1/completions`, { prompt: 'hello' })).json();
    expect(body.usage.completion_tokens).to.equal(sim.options.defaultMaxTokens);
    const capped = await startSimulator({ maxTokensCap: 6, timeScale: 0.02 });
    try {
      const res = await (await postJson(`${capped.url}/v1/completions`, { prompt: 'hello', max_tokens: 50 })).json();
      expect(res.usage.completion_tokens).to.equal(6);
    } finally {
      await capped.close();
    }
  });

  it('lists the base model and its adapters', async () => {
    const body = await (await fetch(`${sim.url}/v1/models`)).json();
    expect(body.object).to.equal('list');
    expect(body.data.map((m: { id: string }) => m.id)).to.deep.equal(['llama-3-8b', 'sql', 'chat']);
    expect(body.data[1]).to.include({ object: 'model', parent: 'llama-3-8b' });
    expect((await fetch(`${sim.url}/health`)).status).to.equal(200);
  });

  for (const [name, path, body, status, param] of [
    ['invalid JSON', '/v1/chat/completions', '{"messages": [', 400, null],
    ['a non-object body', '/v1/chat/completions', '[1,2]', 400, null],
    ['missing messages', '/v1/chat/completions', { model: 'llama-3-8b' }, 400, 'messages'],
    ['a bad message', '/v1/chat/completions', { messages: [{ role: 'user', content: 5 }] }, 400, 'messages'],
    ['a bad max_tokens', '/v1/chat/completions', { messages: MESSAGES, max_tokens: 0 }, 400, 'max_tokens'],
    ['stream_options without stream', '/v1/chat/completions', { messages: MESSAGES, stream_options: { include_usage: true } }, 400, 'stream_options'],
    ['n > 1', '/v1/completions', { prompt: 'x', n: 2 }, 400, 'n'],
    ['a missing prompt', '/v1/completions', {}, 400, 'prompt'],
    ['an empty prompt', '/v1/completions', { prompt: '' }, 400, 'prompt'],
    ['too many tokens', '/v1/completions', { prompt: 'x', max_tokens: 10_000_000 }, 400, 'max_tokens'],
    ['an unknown model', '/v1/chat/completions', { model: 'gpt-9', messages: MESSAGES }, 404, 'model'],
  ] as const) {
    it(`rejects ${name} with an OpenAI-style ${status}`, async () => {
      const res = await postJson(`${sim.url}${path}`, body);
      expect(res.status).to.equal(status);
      const err = (await res.json()).error;
      expect(err).to.include({ code: status, param });
      expect(err.message).to.be.a('string').and.not.equal('');
      expect(err.type).to.equal(status === 404 ? 'NotFoundError' : 'BadRequestError');
    });
  }

  it('answers unknown paths with 404 and wrong methods with 405', async () => {
    expect((await fetch(`${sim.url}/v2/nothing`)).status).to.equal(404);
    const res = await fetch(`${sim.url}/v1/chat/completions`);
    expect(res.status).to.equal(405);
    expect((await res.json()).error.code).to.equal(405);
    expect(sim.engine.snapshot()).to.include({ running: 0, waiting: 0 });
  });

  it('works with the official OpenAI client', async () => {
    const client = new OpenAI({ baseURL: `${sim.url}/v1`, apiKey: 'unused', maxRetries: 0 });
    const stream = await client.chat.completions.create({
      model: 'chat',
      messages: [{ role: 'user', content: 'hi' }],
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text.length).to.be.greaterThan(0);
    expect(usage).to.include({ completion_tokens: 4 });
    const done = await client.completions.create({ model: 'llama-3-8b', prompt: 'abc', max_tokens: 2 });
    expect(done.usage?.completion_tokens).to.equal(2);
    let status = 0;
    await client.chat.completions
      .create({ model: 'missing', messages: [{ role: 'user', content: 'x' }] })
      .catch((e: { status: number }) => (status = e.status));
    expect(status).to.equal(404);
  });
});
