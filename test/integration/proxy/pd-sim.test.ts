// The standalone proxy running prefill/decode disaggregation against real engine simulators: vLLM with its
// NixlConnector (nixl), vLLM without a connector (http) and SGLang prefill/decode servers (sglang, bootstrap rooms on
// SGLang's default bootstrap port 8998). The decode engine must not prefill the prompt when the KV came over.
import { expect } from 'chai';
import { startProxyServer, type ProxyServer } from '../../../src/frontends/proxy/index.js';
import { startSimulator, type SimOptionsInput, type SimulatorHandle } from '../../../src/sim/index.js';
import { registry } from '../../../src/observability/metrics.js';
import { mr, ms, pod } from '../../support/builders.js';
import { eventually, fleet, jsonHeaders, openStream, quiet, send, type Fleet } from './harness.js';

const IP = {
  nixlP: '127.0.59.1',
  nixlD: '127.0.59.2',
  httpP: '127.0.59.11',
  httpD: '127.0.59.12',
  sglP: '127.0.59.21',
  sglD: '127.0.59.22',
  /** A prefill pod that is down (nothing listens). */
  deadP: '127.0.59.9',
};

const SIM_MODEL = 'sim-llama';
const sims: Record<string, SimOptionsInput> = {
  [IP.nixlP]: { kvConnector: 'nixl' },
  [IP.nixlD]: { kvConnector: 'nixl' },
  [IP.httpP]: {},
  [IP.httpD]: {},
  [IP.sglP]: { engine: 'sglang', disaggregationMode: 'prefill' },
  [IP.sglD]: { engine: 'sglang', disaggregationMode: 'decode' },
};

/** All simulators on one port (a ModelServer's pods share its workloadPort), each on its own address. */
async function startSims(): Promise<{ port: number; byIp: Map<string, SimulatorHandle> }> {
  for (let tries = 0; ; tries++) {
    const started: SimulatorHandle[] = [];
    try {
      let port = 0;
      for (const [host, o] of Object.entries(sims)) {
        const sim = await startSimulator({ ...o, host, port, model: SIM_MODEL, timeScale: 0.02, seed: 5 });
        started.push(sim);
        port = sim.port;
      }
      return { port, byIp: new Map(started.map((s) => [s.host, s])) };
    } catch (err) {
      await Promise.all(started.map((s) => s.close()));
      if (tries >= 4) throw err;
    }
  }
}

function objects(port: number): unknown[] {
  const pdGroup = { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } };
  const server = (name: string, engine: string, extra: Record<string, unknown> = {}) =>
    ms(name, { inferenceEngine: engine, model: SIM_MODEL, workloadSelector: { matchLabels: { app: name }, pdGroup }, workloadPort: { port }, ...extra });
  const route = (name: string) => mr(name, { modelName: name, rules: [{ targetModels: [{ modelServerName: name }] }] });
  const p = (name: string, ip: string, app: string, role: string) => pod(name, ip, { app, role, 'pd-group': 'g' });
  return [
    server('pd-nixl', 'vLLM', { kvConnector: { type: 'nixl' } }),
    server('pd-http', 'vLLM'),
    server('pd-sglang', 'SGLang'),
    route('pd-nixl'),
    route('pd-http'),
    route('pd-sglang'),
    p('nixl-p', IP.nixlP, 'pd-nixl', 'prefill'),
    p('nixl-dead', IP.deadP, 'pd-nixl', 'prefill'),
    p('nixl-d', IP.nixlD, 'pd-nixl', 'decode'),
    p('http-p', IP.httpP, 'pd-http', 'prefill'),
    p('http-d', IP.httpD, 'pd-http', 'decode'),
    p('sgl-p', IP.sglP, 'pd-sglang', 'prefill'),
    p('sgl-d', IP.sglD, 'pd-sglang', 'decode'),
  ];
}

async function connectRetries(): Promise<number> {
  const m = await registry.getSingleMetric('kthena_router_proxy_retries_total')!.get();
  return m.values.find((v) => v.labels.reason === 'connect_error')?.value ?? 0;
}

const PROMPT = 'Summarise the history of the printing press in the Low Countries, with dates. '.repeat(12);
let requests = 0;
/** Every request has a prompt of its own: no engine finds it in its prefix cache. */
const chat = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: `Request ${++requests}. ${PROMPT}` }], max_tokens: 8, ...extra });

const PROTOCOLS = [
  { protocol: 'nixl', model: 'pd-nixl', prefill: IP.nixlP, decode: IP.nixlD, kvMoves: true },
  // Without a KV connector in the simulator (LMCache is not simulated), the decode engine computes the prompt again.
  { protocol: 'http', model: 'pd-http', prefill: IP.httpP, decode: IP.httpD, kvMoves: false },
  { protocol: 'sglang', model: 'pd-sglang', prefill: IP.sglP, decode: IP.sglD, kvMoves: true },
];

describe('proxy prefill/decode disaggregation (engine simulators)', function () {
  this.timeout(10_000);
  let f: Fleet;
  let proxy: ProxyServer;
  let simPort: number;
  let byIp: Map<string, SimulatorHandle>;
  const sim = (ip: string) => byIp.get(ip)!;
  const state = (ip: string) => sim(ip).engine.snapshot();
  const inflight = (ip: string) => f.datastore.endpoint(`${ip}:${simPort}`)!.inflight;
  /** A counter the simulator serves on /metrics (`name` without the engine prefix). */
  const counter = async (ip: string, name: string): Promise<number> => {
    const s = sim(ip);
    const text = await (await fetch(`${s.url}/metrics`)).text();
    const m = new RegExp(`^${s.options.engine}:${name}(?:\\{[^}]*\\})? (\\S+)$`, 'm').exec(text);
    if (!m) throw new Error(`no ${name} on ${ip}`);
    return Number(m[1]);
  };
  /** The prefill pod that is down ranks first, so the live pair is always the fallback. */
  const deadFirst = () =>
    [IP.deadP, IP.nixlP].forEach((ip, running) => {
      const ep = f.datastore.endpoint(`${ip}:${simPort}`)!;
      ep.state = { metrics: { running, waiting: 0, kvCacheUsage: 0, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
      ep.picksSinceScrape = 0;
    });

  before(async () => {
    ({ port: simPort, byIp } = await startSims());
    f = fleet(objects(simPort));
    proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: f.pipeline, maxBodyBytes: 1 << 20, logger: quiet, connectTimeoutMs: 1000 });
  });
  after(async () => {
    await proxy?.close(100);
    await Promise.all([...(byIp?.values() ?? [])].map((s) => s.close()));
  });
  afterEach(async () => {
    await eventually(() => Object.keys(sims).every((ip) => inflight(ip) === 0), 'in-flight counts back to 0');
  });

  for (const t of PROTOCOLS) {
    describe(t.protocol, () => {
      it('non-streamed: the prefill engine computes the prompt and one token; the decode engine answers with usage', async () => {
        const p0 = state(t.prefill);
        const d0 = state(t.decode);
        const [pGen0, dGen0] = [await counter(t.prefill, 'generation_tokens_total'), await counter(t.decode, 'generation_tokens_total')];
        const reply = await send(proxy.port, { headers: jsonHeaders, body: chat(t.model) });

        expect(reply.status, reply.body).to.equal(200);
        const answer = JSON.parse(reply.body);
        expect(answer.model).to.equal(t.model);
        expect(answer.usage.completion_tokens).to.equal(8);
        const promptTokens: number = answer.usage.prompt_tokens;
        expect(promptTokens).to.be.greaterThan(100);
        expect(answer).to.not.have.property('kv_transfer_params');

        expect(await counter(t.prefill, 'generation_tokens_total'), 'one prefill request, one output token').to.equal(pGen0 + 1);
        expect(await counter(t.decode, 'generation_tokens_total')).to.equal(dGen0 + 8);
        const p1 = state(t.prefill);
        const d1 = state(t.decode);
        expect(p1.computedPromptTokens - p0.computedPromptTokens, 'the prefill engine prefilled the prompt').to.be.at.least(promptTokens - 16);
        if (t.kvMoves) {
          expect(d1.computedPromptTokens - d0.computedPromptTokens, 'the decode engine computed only the last prompt token').to.equal(1);
          expect(d1.remotePromptTokens - d0.remotePromptTokens).to.equal(promptTokens - 1);
          expect(answer.usage.prompt_tokens_details.cached_tokens).to.equal(promptTokens - 1);
        } else {
          expect(d1.remotePromptTokens - d0.remotePromptTokens).to.equal(0);
        }
        expect(p1.heldBlocks, 'the prefill engine freed the KV once the decode read it').to.equal(0);
      });

      it('streamed: the client gets the decode engine’s events and usage', async () => {
        const d0 = state(t.decode);
        const stream = await openStream(proxy.port, chat(t.model, { stream: true, stream_options: { include_usage: true } }));
        expect(await stream.done).to.equal('end');
        expect(stream.status).to.equal(200);
        expect(stream.headers['content-type']).to.equal('text/event-stream');
        const events = stream.text().split('\n\n').filter((e) => e.startsWith('data: {')).map((e) => JSON.parse(e.slice(6)));
        expect(events.filter((e) => e.choices.length > 0 && e.choices[0].delta.content)).to.have.length(8);
        expect(events.at(-1).usage.completion_tokens).to.equal(8);
        expect(events.every((e) => e.model === t.model)).to.equal(true);
        expect(stream.text().trimEnd().endsWith('data: [DONE]')).to.equal(true);
        if (t.kvMoves) expect(state(t.decode).computedPromptTokens - d0.computedPromptTokens).to.equal(1);
      });
    });
  }

  it('vLLM: the decode engine counts the transferred prompt as external prefix cache hits', async () => {
    const before = await counter(IP.nixlD, 'external_prefix_cache_hits_total');
    const reply = await send(proxy.port, { headers: jsonHeaders, body: chat('pd-nixl') });
    expect(await counter(IP.nixlD, 'external_prefix_cache_hits_total')).to.equal(before + JSON.parse(reply.body).usage.prompt_tokens - 1);
  });

  it('a prefill pod that is down: the next pair serves the request', async () => {
    deadFirst();
    const d0 = state(IP.nixlD);
    const refused0 = await connectRetries();
    const reply = await send(proxy.port, { headers: jsonHeaders, body: chat('pd-nixl') });
    expect(reply.status, reply.body).to.equal(200);
    expect(await connectRetries(), 'the dead prefill pod was tried first').to.equal(refused0 + 1);
    expect(state(IP.nixlD).computedPromptTokens - d0.computedPromptTokens).to.equal(1);
  });

  for (const t of [PROTOCOLS[0]!, PROTOCOLS[2]!]) {
    it(`${t.protocol}: a client abort mid-stream stops the decode engine and releases both pods`, async () => {
      const stream = await openStream(proxy.port, chat(t.model, { stream: true, max_tokens: 2000 }));
      await stream.waitFor('"content"');
      expect(state(t.decode).running).to.equal(1);
      stream.destroy();
      await eventually(() => state(t.decode).running === 0 && state(t.decode).waiting === 0, 'decode request aborted in the engine');
      expect(state(t.prefill).running).to.equal(0);
    });
  }
});
