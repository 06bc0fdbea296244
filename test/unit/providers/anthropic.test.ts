import { expect } from 'chai';
import { AnthropicResponse } from '../../../src/providers/anthropic/adapter.js';
import { toMessagesRequest } from '../../../src/providers/anthropic/request.js';

const json = (v: unknown) => Buffer.from(JSON.stringify(v));
const headers = (contentType: string) => new Map([['content-type', contentType]]);

describe('Anthropic adapter: request translation', () => {
  const translate = (chat: Record<string, unknown>) => toMessagesRequest(chat, 'claude-x', 1024);

  it('moves system and developer messages to system, merges consecutive roles, defaults max_tokens', () => {
    const r = translate({
      messages: [
        { role: 'system', content: 'Rule one.' },
        { role: 'developer', content: [{ type: 'text', text: 'Rule two.' }] },
        { role: 'user', content: 'Hi' },
        { role: 'user', content: [{ type: 'text', text: 'there' }, { type: 'image_url', image_url: { url: 'data:image/PNG;base64,AAAA' } }] },
        { role: 'assistant', content: 'Hello' },
        { role: 'user', content: [{ type: 'image_url', image_url: { url: 'https://example.com/cat.png' } }] },
      ],
      top_p: 0.5,
      stop: ['A', 'B'],
      stream: true,
    });
    expect(r).to.deep.equal({
      request: {
        model: 'claude-x',
        system: 'Rule one.\n\nRule two.',
        messages: [
          {
            role: 'user',
            content: [
              { type: 'text', text: 'Hi' },
              { type: 'text', text: 'there' },
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } },
            ],
          },
          { role: 'assistant', content: 'Hello' },
          { role: 'user', content: [{ type: 'image', source: { type: 'url', url: 'https://example.com/cat.png' } }] },
        ],
        max_tokens: 1024,
        top_p: 0.5,
        stop_sequences: ['A', 'B'],
        stream: true,
      },
    });
  });

  it('takes max_completion_tokens over max_tokens and clamps temperature to 1', () => {
    const r = translate({ messages: [{ role: 'user', content: 'x' }], max_tokens: 10, max_completion_tokens: 20, temperature: 1.5 });
    expect(r).to.have.nested.property('request.max_tokens', 20);
    expect(r).to.have.nested.property('request.temperature', 1);
  });

  it('refuses what it cannot translate faithfully with a 400', () => {
    const user = [{ role: 'user', content: 'x' }];
    for (const chat of [
      { messages: [] },
      { messages: user, tools: [{ type: 'function', function: { name: 'f' } }] },
      { messages: user, n: 2 },
      { messages: [{ role: 'tool', content: 'r', tool_call_id: '1' }] },
      { messages: [{ role: 'system', content: 'only a system prompt' }] },
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: {} }] }] },
      { messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'ftp://x/y.png' } }] }] },
    ]) {
      expect(translate(chat), JSON.stringify(chat)).to.include({ status: 400 });
    }
  });
});

describe('Anthropic adapter: response translation', () => {
  it('turns a Message into a chat.completion, prompt tokens including cached ones', () => {
    const t = new AnthropicResponse('claude', false);
    t.start(200, headers('application/json'));
    const message = {
      id: 'msg_1',
      type: 'message',
      content: [{ type: 'thinking', thinking: '...' }, { type: 'text', text: 'Hel' }, { type: 'text', text: 'lo' }],
      stop_reason: 'max_tokens',
      usage: { input_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 2, output_tokens: 3 },
    };
    const raw = json(message);
    expect(t.body(raw.subarray(0, 10), false)).to.have.length(0);
    const out = JSON.parse(t.body(raw.subarray(10), true).toString());
    expect(out).to.deep.include({ id: 'msg_1', object: 'chat.completion', model: 'claude' });
    expect(out.choices[0]).to.deep.include({ finish_reason: 'length', message: { role: 'assistant', content: 'Hello', refusal: null } });
    expect(out.usage).to.deep.equal({ prompt_tokens: 107, completion_tokens: 3, total_tokens: 110 });
  });

  it("turns Anthropic errors (and non-JSON error pages) into OpenAI's error shape", () => {
    const t = new AnthropicResponse('claude', false);
    t.start(529, headers('application/json'));
    const out = JSON.parse(t.body(json({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } }), true).toString());
    expect(out).to.deep.equal({ error: { message: 'Overloaded', type: 'server_error', code: 'overloaded_error', param: null } });

    const html = new AnthropicResponse('claude', false);
    html.start(502, headers('text/html'));
    const err = JSON.parse(html.body(Buffer.from('<html>bad gateway</html>'), true).toString());
    expect(err.error.message).to.equal('the provider answered HTTP 502');
  });

  it('translates a stream split anywhere, even inside a multi-byte character, and ends with [DONE]', () => {
    const ev = (type: string, data: object) => `event: ${type}\r\ndata: ${JSON.stringify({ type, ...data })}\r\n\r\n`;
    const sse = Buffer.from(
      ev('message_start', { message: { id: 'msg_9', usage: { input_tokens: 7, output_tokens: 1 } } }) +
        ': keep-alive comment\n\n' +
        ev('ping', {}) +
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Grüße ' } }) +
        ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: '🙂' } }) +
        ev('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 4 } }) +
        ev('message_stop', {}),
    );
    const emoji = sse.indexOf(Buffer.from('🙂'));
    for (const include of [false, true]) {
      const t = new AnthropicResponse('claude', include);
      t.start(200, headers('text/event-stream'));
      const out = Buffer.concat([t.body(sse.subarray(0, emoji + 2), false), t.body(sse.subarray(emoji + 2), false), t.body(Buffer.alloc(0), true)]).toString();
      const events = out.split('\n\n').filter(Boolean);
      expect(events.at(-1)).to.equal('data: [DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
      expect(chunks[0].choices[0].delta).to.deep.equal({ role: 'assistant', content: '' });
      expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).to.equal('Grüße 🙂');
      expect(chunks.every((c) => c.id === 'msg_9' && c.model === 'claude')).to.equal(true);
      const usage = chunks.filter((c) => c.usage);
      expect(usage, `include_usage ${include}`).to.deep.equal(include ? [{ ...usage[0], choices: [], usage: { prompt_tokens: 7, completion_tokens: 4, total_tokens: 11 } }] : []);
    }
  });

  it('turns an error event mid-stream into an OpenAI error event', () => {
    const t = new AnthropicResponse('claude', false);
    t.start(200, headers('text/event-stream'));
    const out = t.body(Buffer.from(`event: error\ndata: ${JSON.stringify({ type: 'error', error: { type: 'overloaded_error', message: 'Overloaded' } })}\n\n`), true);
    expect(JSON.parse(out.toString().slice(6))).to.deep.equal({ error: { message: 'Overloaded', type: 'server_error', code: 'overloaded_error', param: null } });
  });
});
