import { expect } from 'chai';
import { pino } from 'pino';
import { ExtProcServer } from '../../../src/frontends/extproc/index.js';
import { headerValueText } from '../../../src/frontends/extproc/header-map.js';
import type { ProcessingResponse } from '../../../src/frontends/extproc/wire.js';
import { EnvoyClient, type ModeName } from '../../support/envoy-client.js';
import { REPLY_WORDS } from './fake-providers.js';
import { ANTHROPIC_KEY, loadInto, OPENAI_KEY, resources, routerParts, type RouterParts } from './setup.js';

// Provider targets through the ext_proc front door, driven by the Envoy-behaving client: the header mutations Envoy
// needs to reach the provider cluster, the translated body, and the response turned back into OpenAI's shape.

interface RouteMutation {
  set: Map<string, string>;
  remove: string[];
  clearRouteCache: boolean;
}

/** The header mutation carried by the reply that routed the request. */
function routeMutation(replies: ProcessingResponse[]): RouteMutation {
  for (const r of replies) {
    const common = r.request_headers?.response ?? r.request_body?.response;
    const m = common?.header_mutation;
    if (!m?.set_headers?.length) continue;
    const set = new Map(m.set_headers.map((o) => [o.header!.key, headerValueText(o.header!)]));
    return { set, remove: m.remove_headers ?? [], clearRouteCache: common?.clear_route_cache === true };
  }
  throw new Error('no reply carried a header mutation');
}

const CLIENT_HEADERS = { authorization: 'Bearer router-key-of-the-client', 'x-api-key': 'client-key', cookie: 'sid=1' };
const ask = (model: string, extra: object = {}) => ({ model, messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello' }], ...extra });

function anthropicEvents(): string {
  const ev = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
  return (
    ev('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', content: [], usage: { input_tokens: 11, output_tokens: 1 } } }) +
    ev('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }) +
    REPLY_WORDS.map((w) => ev('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })).join('') +
    ev('content_block_stop', { index: 0 }) +
    ev('message_delta', { delta: { stop_reason: 'max_tokens' }, usage: { output_tokens: REPLY_WORDS.length } }) +
    ev('message_stop', {})
  );
}

describe('external providers through ext_proc (Envoy-behaving client)', () => {
  let parts: RouterParts;
  let server: ExtProcServer;
  let client: EnvoyClient;

  before(async () => {
    parts = routerParts({});
    loadInto(parts.datastore, resources({ openai: 'https://api.openai.com', anthropic: 'https://api.anthropic.com' }, [], 8000));
    server = new ExtProcServer();
    const { port } = await server.start({ host: '127.0.0.1', port: 0, pipeline: parts.pipeline, maxBodyBytes: 1 << 20, messageTimeoutMs: 2000, logger: pino({ level: 'silent' }) });
    client = new EnvoyClient(`127.0.0.1:${port}`);
  });

  after(async () => {
    client.close();
    await server.stop(100);
  });

  beforeEach(() => parts.ledger.committed.splice(0));

  for (const mode of ['FULL_DUPLEX_STREAMED', 'BUFFERED'] as ModeName[]) {
    it(`${mode}: an OpenAI provider gets its cluster header, authority, path, model and Secret key; the client's are removed`, async () => {
      const t = await client.exchange({
        mode,
        headers: CLIENT_HEADERS,
        body: ask('gpt'),
        response: { body: { id: 'c1', object: 'chat.completion', model: 'gpt-4o-mini', choices: [], usage: { prompt_tokens: 3, completion_tokens: 6, total_tokens: 9 } } },
      });
      expect(t.outcome, t.reason).to.equal('completed');
      const m = routeMutation(t.requestReplies);
      expect(m.clearRouteCache).to.equal(true);
      expect(m.set.get('x-kthena-provider')).to.equal('default/openai');
      expect(m.set.get(':authority')).to.equal('api.openai.com');
      expect(m.set.get(':path')).to.equal('/v1/chat/completions');
      expect(m.set.get('authorization')).to.equal(`Bearer ${OPENAI_KEY}`);
      expect(m.set.get('x-gateway-destination-endpoint')).to.equal('api.openai.com:443');
      expect(m.remove).to.include.members(['x-api-key', 'cookie']);
      expect(t.metadataDestination).to.equal('api.openai.com:443');
      // What left for the upstream, as Envoy applies the mutations.
      expect(t.upstreamHeaders.get('authorization')).to.equal(`Bearer ${OPENAI_KEY}`);
      expect(t.upstreamHeaders.has('x-api-key') || t.upstreamHeaders.has('cookie')).to.equal(false);
      expect(JSON.parse(t.upstreamBody.toString()).model).to.equal('gpt-4o-mini');
      expect(Number(t.upstreamHeaders.get('content-length'))).to.equal(t.upstreamBody.length);
      expect(JSON.parse(t.downstreamBody.toString()).model).to.equal('gpt');
      expect(parts.ledger.committed).to.deep.equal([{ model: 'gpt', tokens: 6 }]);
    });
  }

  it('an Anthropic provider: Messages path, x-api-key and version headers, translated body and translated SSE answer', async () => {
    const sse = anthropicEvents();
    // Arbitrary chunk boundaries, as the network delivers them (mid-event, mid-line).
    const chunks = [sse.slice(0, 50), sse.slice(50, 333), sse.slice(333)];
    const t = await client.exchange({
      mode: 'FULL_DUPLEX_STREAMED',
      headers: CLIENT_HEADERS,
      body: ask('claude', { stream: true, stream_options: { include_usage: true } }),
      response: { headers: { 'content-type': 'text/event-stream' }, chunks },
    });
    expect(t.outcome, t.reason).to.equal('completed');
    const m = routeMutation(t.requestReplies);
    expect(m.set.get('x-kthena-provider')).to.equal('default/claude');
    expect(m.set.get(':authority')).to.equal('api.anthropic.com');
    expect(m.set.get(':path')).to.equal('/v1/messages');
    expect(m.set.get('x-api-key')).to.equal(ANTHROPIC_KEY);
    expect(m.set.get('anthropic-version')).to.equal('2023-06-01');
    expect(m.remove).to.include.members(['authorization', 'cookie']);
    expect(JSON.parse(t.upstreamBody.toString())).to.deep.equal({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Say hello' }],
      max_tokens: 4096,
      stream: true,
    });

    const events = t.downstreamBody.toString().split('\n\n').filter(Boolean);
    expect(events.at(-1)).to.equal('data: [DONE]');
    const chunksOut = events.slice(0, -1).map((e) => JSON.parse(e.slice('data: '.length)));
    expect(chunksOut.every((c) => c.object === 'chat.completion.chunk' && c.model === 'claude')).to.equal(true);
    expect(chunksOut.map((c) => c.choices[0]?.delta?.content ?? '').join('')).to.equal(REPLY_WORDS.join(''));
    expect(chunksOut.find((c) => c.choices[0]?.finish_reason)?.choices[0].finish_reason).to.equal('length');
    expect(chunksOut.at(-1)).to.deep.include({ choices: [], usage: { prompt_tokens: 11, completion_tokens: REPLY_WORDS.length, total_tokens: 11 + REPLY_WORDS.length } });
    expect(parts.ledger.committed).to.deep.equal([{ model: 'claude', tokens: REPLY_WORDS.length }]);
  });

  it('an Anthropic JSON answer in BUFFERED response mode becomes a chat.completion with a matching content-length', async () => {
    const message = { id: 'msg_2', type: 'message', role: 'assistant', content: [{ type: 'text', text: 'Hi!' }], stop_reason: 'end_turn', usage: { input_tokens: 4, output_tokens: 2 } };
    const t = await client.exchange({ mode: 'BUFFERED', responseMode: 'BUFFERED', body: ask('claude'), response: { body: message } });
    expect(t.outcome, t.reason).to.equal('completed');
    const reply = JSON.parse(t.downstreamBody.toString());
    expect(reply).to.deep.include({ id: 'msg_2', object: 'chat.completion', model: 'claude' });
    expect(reply.choices[0].message.content).to.equal('Hi!');
    expect(reply.usage).to.deep.equal({ prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 });
    expect(Number(t.downstreamHeaders?.get('content-length'))).to.equal(t.downstreamBody.length);
    expect(parts.ledger.committed).to.deep.equal([{ model: 'claude', tokens: 2 }]);
  });
});
