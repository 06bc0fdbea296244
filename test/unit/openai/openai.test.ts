import { expect } from 'chai';
import { errorBody } from '../../../src/openai/errors.js';
import { apiKind, parseRequest } from '../../../src/openai/request.js';
import { UsageReader } from '../../../src/openai/usage.js';

describe('openai bodies', () => {
  it('classifies paths by suffix', () => {
    expect(apiKind('/v1/chat/completions?x=1')).to.equal('chat');
    expect(apiKind('/openai/v1/completions')).to.equal('completions');
    expect(apiKind('/v1/embeddings')).to.equal('embeddings');
    expect(apiKind('/v1/models')).to.equal('other');
  });

  it('renders chat messages so a shared system prompt is a shared prefix', () => {
    const body = (q: string) =>
      Buffer.from(
        JSON.stringify({
          model: 'm',
          max_tokens: 64,
          user: 'alice',
          messages: [
            { role: 'system', content: 'You are helpful.' },
            { role: 'user', content: [{ type: 'text', text: q }, { type: 'image_url', image_url: { url: 'x' } }] },
          ],
        }),
      );
    const a = parseRequest('/v1/chat/completions', body('one'));
    const b = parseRequest('/v1/chat/completions', body('two'));
    if ('status' in a || 'status' in b) throw new Error('parse failed');
    expect(a.promptText).to.equal('<|system|>\nYou are helpful.\n<|user|>\none\n');
    expect(b.promptText.startsWith('<|system|>\nYou are helpful.\n')).to.equal(true);
    expect(a).to.include({ model: 'm', maxTokens: 64, user: 'alice', stream: false, kind: 'chat' });
  });

  it('reads prompts of completions and inputs of embeddings', () => {
    const c = parseRequest('/v1/completions', Buffer.from('{"model":"m","prompt":["a","b"],"stream":true}'));
    const e = parseRequest('/v1/embeddings', Buffer.from('{"model":"m","input":"text"}'));
    if ('status' in c || 'status' in e) throw new Error('parse failed');
    expect([c.promptText, c.stream, e.promptText]).to.deep.equal(['a\nb', true, 'text']);
  });

  it('builds OpenAI error bodies', () => {
    const body = JSON.parse(errorBody({ status: 429, message: 'slow', code: 'rate_limit_exceeded' }).toString());
    expect(body).to.deep.equal({ error: { message: 'slow', type: 'rate_limit_error', code: 'rate_limit_exceeded' } });
  });

  it('reads usage from a JSON body split in chunks', () => {
    const u = new UsageReader();
    u.setContentType('application/json');
    const text = '{"id":"x","usage":{"prompt_tokens":12,"completion_tokens":34,"total_tokens":46}}';
    u.push(Buffer.from(text.slice(0, 20)), false);
    u.push(Buffer.from(text.slice(20)), true);
    expect(u.usage).to.deep.equal({ promptTokens: 12, completionTokens: 34 });
  });

  it('ignores usage figures that are not token counts (negative, fractional, too large): they must not reach a counter', () => {
    for (const bad of ['-3', '2.5', '1e300', '"12"', 'null']) {
      const u = new UsageReader();
      u.setContentType('application/json');
      u.push(Buffer.from(`{"usage":{"prompt_tokens":${bad},"completion_tokens":${bad}}}`), true);
      expect(u.usage, bad).to.deep.equal({});
      expect(u.sawOutput(), bad).to.equal(false);
    }
  });

  it('reads usage from SSE with events split across chunks, and counts deltas without usage', () => {
    const u = new UsageReader();
    u.setContentType('text/event-stream; charset=utf-8');
    const stream =
      'data: {"choices":[{"delta":{"content":"a"}}]}\n\n' +
      'data: {"choices":[{"delta":{"content":"b"}}]}\r\n\r\n' +
      'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2}}\n\ndata: [DONE]\n\n';
    for (let i = 0; i < stream.length; i += 7) u.push(Buffer.from(stream.slice(i, i + 7)), i + 7 >= stream.length);
    expect(u.usage).to.deep.equal({ promptTokens: 5, completionTokens: 2 });
    const v = new UsageReader();
    v.setContentType('text/event-stream');
    v.push(Buffer.from(stream.split('data: {"choices":[],')[0]!), true);
    expect(v.outputTokens()).to.equal(2);
  });

  it('counts content events without parsing them, and is not fooled by look-alikes inside strings', () => {
    const u = new UsageReader();
    u.setContentType('text/event-stream');
    const events = [
      '{"id":"1","choices":[{"delta":{"content":"\\"usage\\":{\\"completion_tokens\\":99}"}}]}',
      '{"id":"2","choices": [ {"delta":{"content":"\\"choices\\":[1]"}}]}',
      '{"id":"3","choices":[]}',
      '{"id":"4","choices":[],"usage":null}',
    ];
    u.push(Buffer.from(events.map((e) => `data: ${e}\n\n`).join('')), true);
    for (const e of events) expect(() => JSON.parse(e), e).not.to.throw();
    expect(u.usage).to.deep.equal({});
    expect(u.outputTokens()).to.equal(2);
  });
});
