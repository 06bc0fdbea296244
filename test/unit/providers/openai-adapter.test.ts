import { expect } from 'chai';
import { parseRequest, type ParsedRequest } from '../../../src/openai/request.js';
import { openAiAdapter, UsageChunkFilter } from '../../../src/providers/openai-adapter.js';
import { anthropicMessagesPath, openAiPath } from '../../../src/providers/paths.js';
import type { ResolvedProvider } from '../../../src/providers/resolve.js';
import { defaultProviderSettings } from '../../../src/providers/settings.js';

const parsed = (path: string, body: object) => parseRequest(path, Buffer.from(JSON.stringify(body))) as ParsedRequest;
const provider = (baseURL: string) => ({ base: new URL(baseURL) }) as ResolvedProvider;

describe('provider paths', () => {
  it('joins an OpenAI-style base (version included) with the client path relative to its /v1', () => {
    expect(openAiPath(new URL('https://api.openai.com/v1'), '/v1/chat/completions')).to.equal('/v1/chat/completions');
    expect(openAiPath(new URL('https://generativelanguage.googleapis.com/v1beta/openai/'), '/v1/chat/completions')).to.equal('/v1beta/openai/chat/completions');
    expect(openAiPath(new URL('https://api.deepseek.com'), '/v1/chat/completions')).to.equal('/chat/completions');
    expect(openAiPath(new URL('https://x.example/openai/deployments/d'), '/v1/embeddings?api-version=2024-10-21')).to.equal('/openai/deployments/d/embeddings?api-version=2024-10-21');
  });

  it('puts the Messages API under /v1 unless the base already ends with it', () => {
    expect(anthropicMessagesPath(new URL('https://api.anthropic.com'))).to.equal('/v1/messages');
    expect(anthropicMessagesPath(new URL('https://gw.example/anthropic/v1/'))).to.equal('/anthropic/v1/messages');
  });
});

describe('OpenAI-compatible adapter', () => {
  const settings = defaultProviderSettings();

  it('renames the model and asks a streamed chat for usage, which it then keeps from the client', () => {
    const req = parsed('/v1/chat/completions', { model: 'gpt', messages: [], stream: true, stream_options: { other: 1 } });
    const a = openAiAdapter.adapt({ parsed: req, path: '/v1/chat/completions', model: 'gpt-4o' }, provider('https://api.openai.com/v1'), settings);
    if ('status' in a) throw new Error('unexpected rejection');
    expect(JSON.parse(a.body.toString())).to.deep.include({ model: 'gpt-4o', stream_options: { other: 1, include_usage: true } });
    expect(a.modelRewrite).to.deep.equal({ client: 'gpt', upstream: 'gpt-4o' });
    expect(a.transform).to.be.instanceOf(UsageChunkFilter);
  });

  it('leaves a client that asked for usage, and non-streamed requests, as they are', () => {
    for (const body of [
      { model: 'm', messages: [], stream: true, stream_options: { include_usage: true } },
      { model: 'm', messages: [] },
    ]) {
      const a = openAiAdapter.adapt({ parsed: parsed('/v1/chat/completions', body), path: '/v1/chat/completions', model: 'm' }, provider('https://h/v1'), settings);
      if ('status' in a) throw new Error('unexpected rejection');
      expect(JSON.parse(a.body.toString())).to.deep.equal(body);
      expect(a.transform).to.equal(undefined);
      expect(a.modelRewrite).to.equal(undefined);
    }
  });

  it('the usage filter drops only the usage-only chunk, across chunk boundaries; error bodies pass untouched', () => {
    const f = new UsageChunkFilter();
    f.start(200, new Map([['content-type', 'text/event-stream']]));
    const sse = 'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: {"choices":[],"usage":{"completion_tokens":1}}\n\ndata: [DONE]\n\n';
    const out = f.body(Buffer.from(sse.slice(0, 60)), false).toString() + f.body(Buffer.from(sse.slice(60)), true).toString();
    expect(out).to.equal('data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\n');

    const e = new UsageChunkFilter();
    e.start(429, new Map([['content-type', 'application/json']]));
    const body = Buffer.from('{"error":{"message":"slow down"}}');
    expect(e.body(body, true)).to.equal(body);
  });
});
