import { expect } from 'chai';
import type { Server } from 'node:http';
import OpenAI from 'openai';
import { pino } from 'pino';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { FakeProvider, REPLY_WORDS, sendJson } from './fake-providers.js';
import { ANTHROPIC_KEY, closedPort, loadInto, metricValue, OPENAI_KEY, provider, resources, routerParts, startPod, type RouterParts } from './setup.js';

// The standalone proxy in front of HTTPS servers behaving like OpenAI and Anthropic (self-signed CA handed over by
// configuration), driven by the official openai SDK.

const CLIENT_KEY = 'client-key-for-the-router';

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}
const POD_IPS = ['127.0.46.1', '127.0.46.2'];

describe('external providers through the standalone proxy', function () {
  this.timeout(15_000);
  const cert = generateSelfSignedCert({ altNames: ['localhost', '127.0.0.1'] });
  let openai: FakeProvider;
  let anthropic: FakeProvider;
  let parts: RouterParts;
  let proxy: ProxyServer;
  let client: OpenAI;
  let podPort: number;
  const pods: Server[] = [];

  beforeEach(async () => {
    openai = await FakeProvider.start('openai', cert, OPENAI_KEY);
    anthropic = await FakeProvider.start('anthropic', cert, ANTHROPIC_KEY);
    podPort = await closedPort(POD_IPS[0]!);
    parts = routerParts({ extraCa: cert.cert });
    loadInto(parts.datastore, resources({ openai: openai.origin(), anthropic: anthropic.origin() }, POD_IPS, podPort));
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: parts.pipeline, maxBodyBytes: 1 << 20, logger: pino({ level: 'silent' }) });
    client = new OpenAI({
      apiKey: CLIENT_KEY,
      baseURL: `http://127.0.0.1:${proxy.port}/v1`,
      maxRetries: 0,
      defaultHeaders: { cookie: 'session=client-cookie', 'x-api-key': 'client-x-api-key' },
    });
  });

  afterEach(async () => {
    await proxy.close(100);
    await Promise.all([openai.close(), anthropic.close(), ...pods.splice(0).map((p) => new Promise((r) => p.close(r)))]);
  });

  const ask = { messages: [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Say hello' }] };

  it('OpenAI provider: model renamed both ways, the Secret key injected, the client credentials stripped', async () => {
    const reply = await client.chat.completions.create({ model: 'gpt', ...ask });
    expect(reply.choices[0]!.message.content).to.equal(REPLY_WORDS.join(''));
    expect(reply.model).to.equal('gpt');
    expect(reply.usage?.completion_tokens).to.equal(REPLY_WORDS.length);

    const seen = openai.received[0]!;
    expect(seen.path).to.equal('/v1/chat/completions');
    expect(seen.json.model).to.equal('gpt-4o-mini');
    expect(seen.headers.authorization).to.equal(`Bearer ${OPENAI_KEY}`);
    expect(seen.headers['x-api-key']).to.equal(undefined);
    expect(seen.headers.cookie).to.equal(undefined);
    expect(seen.headers['x-forwarded-for']).to.equal(undefined);
    expect(seen.headers.host).to.equal(`127.0.0.1:${openai.port}`);
    expect(JSON.stringify(seen.headers)).not.to.contain(CLIENT_KEY);
    expect(parts.ledger.committed).to.deep.equal([{ model: 'gpt', tokens: REPLY_WORDS.length }]);
  });

  it('OpenAI provider streaming: usage asked upstream for accounting, its chunk kept from a client that did not ask', async () => {
    const stream = await client.chat.completions.create({ model: 'gpt', ...ask, stream: true });
    const chunks = await collect(stream);
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).to.equal(REPLY_WORDS.join(''));
    expect(chunks.every((c) => c.choices.length === 1 && c.model === 'gpt')).to.equal(true);
    expect(openai.received[0]!.json.stream_options).to.deep.equal({ include_usage: true });
    expect(parts.ledger.committed).to.deep.equal([{ model: 'gpt', tokens: REPLY_WORDS.length }]);

    const withUsage = await client.chat.completions.create({ model: 'gpt', ...ask, stream: true, stream_options: { include_usage: true } });
    const last = (await collect(withUsage)).at(-1)!;
    expect(last.choices).to.deep.equal([]);
    expect(last.usage?.completion_tokens).to.equal(REPLY_WORDS.length);
  });

  it('Anthropic provider: an OpenAI chat request becomes a Messages request with the x-api-key and version headers', async () => {
    const reply = await client.chat.completions.create({ model: 'claude', ...ask, temperature: 1.7, stop: 'END', user: 'u-1' });
    expect(reply.object).to.equal('chat.completion');
    expect(reply.model).to.equal('claude');
    expect(reply.choices[0]!.message).to.include({ role: 'assistant', content: REPLY_WORDS.join('') });
    expect(reply.choices[0]!.finish_reason).to.equal('stop');
    expect(reply.usage).to.deep.equal({ prompt_tokens: 11, completion_tokens: REPLY_WORDS.length, total_tokens: 11 + REPLY_WORDS.length });

    const seen = anthropic.received[0]!;
    expect(seen.path).to.equal('/v1/messages');
    expect(seen.headers['x-api-key']).to.equal(ANTHROPIC_KEY);
    expect(seen.headers.authorization).to.equal(undefined);
    expect(seen.headers['anthropic-version']).to.equal('2023-06-01');
    expect(seen.headers['anthropic-beta']).to.equal('router-test');
    expect(seen.headers.cookie).to.equal(undefined);
    expect(seen.json).to.deep.equal({
      model: 'claude-sonnet-4-5',
      system: 'Be brief.',
      messages: [{ role: 'user', content: 'Say hello' }],
      max_tokens: 4096,
      temperature: 1,
      stop_sequences: ['END'],
      metadata: { user_id: 'u-1' },
    });
    expect(parts.ledger.committed).to.deep.equal([{ model: 'claude', tokens: REPLY_WORDS.length }]);
  });

  it('Anthropic provider streaming: events become OpenAI chunks, usage chunk and [DONE], with the right token count', async () => {
    const stream = await client.chat.completions.create({ model: 'claude', ...ask, max_tokens: 50, stream: true, stream_options: { include_usage: true } });
    const chunks = await collect(stream);
    expect(chunks[0]!.choices[0]!.delta.role).to.equal('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).to.equal(REPLY_WORDS.join(''));
    expect(chunks.find((c) => c.choices[0]?.finish_reason)?.choices[0]?.finish_reason).to.equal('stop');
    const usage = chunks.at(-1)!;
    expect(usage.choices).to.deep.equal([]);
    expect(usage.usage).to.deep.include({ prompt_tokens: 11, completion_tokens: REPLY_WORDS.length });
    expect(anthropic.received[0]!.json).to.include({ max_tokens: 50, stream: true });
    expect(parts.ledger.committed).to.deep.equal([{ model: 'claude', tokens: REPLY_WORDS.length }]);
  });

  it("Anthropic errors reach the client in OpenAI's shape, and unsupported requests are refused before any upstream call", async () => {
    anthropic.override = (_req, res) => sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: 'prompt is too long' } });
    const err = await client.chat.completions.create({ model: 'claude', ...ask }).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(OpenAI.BadRequestError);
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).message).to.contain('prompt is too long');
    expect((err as InstanceType<typeof OpenAI.BadRequestError>).code).to.equal('invalid_request_error');

    const tools = [{ type: 'function' as const, function: { name: 'f', parameters: {} } }];
    const refused = await client.chat.completions.create({ model: 'claude', ...ask, tools }).catch((e: unknown) => e);
    expect(refused).to.be.instanceOf(OpenAI.BadRequestError);
    expect(anthropic.received).to.have.length(1);
  });

  it('retries a rate-limited provider after its Retry-After, then answers', async () => {
    let calls = 0;
    const started = Date.now();
    openai.override = (_req, res) => {
      calls++;
      if (calls === 1) return sendJson(res, 429, { error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' } }, { 'retry-after': '0' });
      openai.override = undefined;
      return sendJson(res, 503, { error: { message: 'overloaded', type: 'server_error', param: null, code: null } });
    };
    const reply = await client.chat.completions.create({ model: 'gpt', ...ask });
    expect(reply.choices[0]!.message.content).to.equal(REPLY_WORDS.join(''));
    expect(openai.received).to.have.length(3);
    // Backoff 20 ms then 40 ms (exponential), never beyond the 200 ms cap.
    expect(Date.now() - started).to.be.within(55, 2000);
  });

  it('refuses an untrusted provider certificate without retrying, unless the provider sets insecureSkipVerify', async () => {
    const untrusting = routerParts({});
    loadInto(untrusting.datastore, resources({ openai: openai.origin(), anthropic: anthropic.origin() }, [], podPort));
    const strict = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: untrusting.pipeline, maxBodyBytes: 1 << 20, logger: pino({ level: 'silent' }) });
    try {
      const c = new OpenAI({ apiKey: CLIENT_KEY, baseURL: `http://127.0.0.1:${strict.port}/v1`, maxRetries: 0 });
      const retriesBefore = await metricValue('kthena_router_proxy_retries_total', { reason: 'upstream_error' });
      const err = await c.chat.completions.create({ model: 'gpt', ...ask }).catch((e: unknown) => e);
      expect(err).to.be.instanceOf(OpenAI.APIError);
      expect((err as InstanceType<typeof OpenAI.APIError>).status).to.equal(502);
      expect((err as InstanceType<typeof OpenAI.APIError>).message).to.match(/SELF_SIGNED|CERT/);
      expect(await metricValue('kthena_router_proxy_retries_total', { reason: 'upstream_error' })).to.equal(retriesBefore);
      expect(openai.received).to.have.length(0);

      const objects = resources({ openai: openai.origin(), anthropic: anthropic.origin() }, [], podPort);
      const index = objects.findIndex((o) => (o as { metadata: { name: string } }).metadata.name === 'openai' && (o as { kind: string }).kind === 'ExternalModelProvider');
      objects[index] = provider('openai', { ...(objects[index] as { spec: object }).spec, insecureSkipVerify: true });
      loadInto(untrusting.datastore, objects);
      const ok = await c.chat.completions.create({ model: 'gpt', ...ask });
      expect(ok.choices[0]!.message.content).to.equal(REPLY_WORDS.join(''));
    } finally {
      await strict.close(100);
    }
  });

  it('falls back from dead pods to the provider, ejects the pods, and re-admits them after the cool-down', async () => {
    const [a, b] = POD_IPS.map((ip) => `${ip}:${podPort}`) as [string, string];
    const ejectionsBefore = await metricValue('kthena_router_outlier_ejections_total', { target: a });

    // Pods refuse connections: each request fails over once between them, then goes to the provider.
    for (let i = 0; i < 2; i++) {
      const reply = await client.chat.completions.create({ model: 'mixed', ...ask });
      expect(reply.choices[0]!.message.content).to.equal(REPLY_WORDS.join(''));
      expect(reply.model).to.equal('mixed');
    }
    expect(openai.received).to.have.length(2);
    expect(openai.received[0]!.json.model).to.equal('gpt-4o-mini');
    expect(parts.outlier.isEjected(a) && parts.outlier.isEjected(b)).to.equal(true);
    expect(await metricValue('kthena_router_outlier_ejections_total', { target: a })).to.equal(ejectionsBefore + 1);
    expect(await metricValue('kthena_router_outlier_ejected', { target: a })).to.equal(1);

    // Every pod ejected: the ModelServer has no capacity, the provider is picked straight away.
    const direct = await parts.pipeline.handle({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: new Map(),
      body: Buffer.from(JSON.stringify({ model: 'mixed', ...ask })),
      frontend: 'proxy',
    });
    expect(direct.kind === 'route' && direct.endpoints).to.deep.equal([`127.0.0.1:${openai.port}`]);
    if (direct.kind === 'route') direct.exchange.finish('cancelled');

    // The pods come back; after the cool-down they serve again.
    for (const ip of POD_IPS) pods.push(await startPod(ip, podPort));
    await new Promise((r) => setTimeout(r, 450));
    expect(parts.outlier.isEjected(a)).to.equal(false);
    expect(await metricValue('kthena_router_outlier_ejected', { target: a })).to.equal(0);
    const local = await client.chat.completions.create({ model: 'mixed', ...ask });
    expect(local.choices[0]!.message.content).to.equal('local answer');
    expect(local.model).to.equal('mixed');
    expect(openai.received).to.have.length(2);
  });
});
