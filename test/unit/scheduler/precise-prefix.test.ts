import { expect } from 'chai';
import { parseRequest, type ParsedRequest } from '../../../src/openai/request.js';
import { registry } from '../../../src/observability/metrics.js';
import { precisePrefix } from '../../../src/scheduler/plugins/precise-prefix.js';
import { prefixCache } from '../../../src/scheduler/plugins/prefix-cache.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { endpoint } from '../../support/builders.js';

// precise-prefix against real simulators publishing KV-cache events over ZeroMQ: it must follow what the engines
// really cache (evictions, work other clients sent), count requests it sent that are still computing, and fall
// back to the approximate index per pod, visibly, where nothing publishes.

const WORDS = 'amber birch cedar delta ember fjord grove heron inlet juniper'.split(' ');
const text = (seed: number, n: number) => Array.from({ length: n }, (_, i) => WORDS[(i * 3 + seed) % WORDS.length]! + (seed * 1000 + i)).join(' ');
const chat = (system: string, user: string) => ({ model: 'm', messages: [{ role: 'system', content: system }, { role: 'user', content: user }], max_tokens: 2 });
let nextId = 0;
const request = (body: object): SchedulingRequest => ({
  requestId: `r${nextId++}`,
  model: 'm',
  promptText: (parseRequest('/v1/chat/completions', Buffer.from(JSON.stringify(body))) as ParsedRequest).promptText,
  headers: new Map(),
  group: 'server:default/m',
});

async function send(sim: SimulatorHandle, body: object): Promise<void> {
  const res = await fetch(`${sim.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status !== 200) throw new Error(`sim answered ${res.status}`);
  await res.text();
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const simOptions = (host: string, kvBlocks: number) => ({
  host, port: 0, model: 'm', timeScale: 0.01, kvBlocks, blockSize: 16,
  kvEvents: { enableKvCacheEvents: true, publisher: 'zmq' as const, endpoint: 'tcp://*:5557', replayEndpoint: 'tcp://*:5558', bufferSteps: 10_000, hwm: 100_000, topic: '' },
});

describe('precise-prefix scorer', function () {
  this.timeout(30_000);
  let a: SimulatorHandle;
  let b: SimulatorHandle;
  let plugin: Plugin & { close(): Promise<void> };
  const silent = endpoint('127.0.116.23:8000'); // a pod whose engine publishes nothing
  const eps = () => [endpoint(`${a.host}:${a.port}`), endpoint(`${b.host}:${b.port}`), silent];

  before(async () => {
    [a, b] = await Promise.all([startSimulator(simOptions('127.0.116.21', 48)), startSimulator(simOptions('127.0.116.22', 2000))]);
    plugin = precisePrefix({ tokenizer: 'simulator', replayPort: 5558, reconnectMs: 50, reconnectMaxMs: 500 });
    plugin.score!(request(chat('x', 'y')), eps()); // subscribes
    const precise = async (address: string) =>
      (await registry.getMetricsAsJSON())
        .find((m) => m.name === 'kthena_router_kv_events_precise')
        ?.values.find((v) => v.labels.endpoint === address)?.value === 1;
    const end = Date.now() + 5000;
    while (!((await precise(`${a.host}:${a.port}`)) && (await precise(`${b.host}:${b.port}`)))) {
      if (Date.now() > end) throw new Error('the subscriptions did not connect');
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 100)); // the subscription reaches the publishers asynchronously
  });
  after(async () => {
    await plugin?.close();
    await Promise.all([a?.close(), b?.close()]);
  });

  it('scores where the blocks really are, not where this router sent them', async () => {
    const body = chat(text(1, 80), 'first question');
    const guess = prefixCache({ blockSizeToHash: 64 });
    const [epA] = eps();
    // This router sends the prompt to A: both indexes learn "A holds it".
    const req = request(body);
    plugin.score!(req, eps());
    plugin.onPicked!(req, epA!);
    guess.onPicked!(req, epA!);
    await send(a, body);
    plugin.onComplete!(req, epA!, 'success');
    const again = request(chat(text(1, 80), 'second question'));
    await until(() => plugin.score!(again, eps())[0]! > 90, 'A to report the prompt');
    // Memory pressure evicts it on A; another client (not this router) sends it to B.
    for (let i = 0; i < 4; i++) await send(a, chat(text(10 + i, 80), 'filler'));
    await send(b, body);
    const later = request(chat(text(1, 80), 'third question'));
    await until(() => {
      const [sa, sb] = plugin.score!(later, eps());
      return sa! < 10 && sb! > 90;
    }, 'the scores to follow the engines');
    const approx = guess.score!(request(chat(text(1, 80), 'third question')), eps());
    expect(approx[0]).to.be.greaterThan(90); // the guess still believes A
    expect(approx[1]).to.equal(0);
    await guess.close?.();
  });

  it('counts the blocks of requests still in flight, until they complete', () => {
    const body = chat(text(2, 80), 'never sent');
    const [, epB] = eps();
    const req = request(body);
    plugin.onPicked!(req, epB!);
    expect(plugin.score!(request(chat(text(2, 80), 'sibling')), eps())[1]).to.be.greaterThan(90);
    plugin.onComplete!(req, epB!, 'error');
    expect(plugin.score!(request(chat(text(2, 80), 'sibling')), eps())[1]).to.equal(0);
  });

  it('falls back to the approximate index for a pod that publishes nothing, and shows it', async () => {
    const body = chat(text(3, 80), 'to the silent pod');
    const req = request(body);
    plugin.score!(req, eps());
    plugin.onPicked!(req, silent);
    plugin.onComplete!(req, silent, 'success');
    const scores = plugin.score!(request(chat(text(3, 80), 'again')), eps());
    expect(scores[2]).to.be.greaterThan(90);
    const gauge = (await registry.getMetricsAsJSON()).find((m) => m.name === 'kthena_router_kv_events_precise')!;
    const value = (address: string) => gauge.values.find((v) => v.labels.endpoint === address)?.value;
    expect(value(silent.address)).to.equal(0);
    expect(value(`${a.host}:${a.port}`)).to.equal(1);
  });

  it('scores every pod by the approximate index when the hash algorithm is not supported', async () => {
    const p = precisePrefix({ tokenizer: 'simulator', hashAlgorithm: 'xxhash' });
    const body = chat(text(4, 80), 'q');
    const req = request(body);
    p.score!(req, eps());
    p.onPicked!(req, eps()[0]!);
    expect(p.score!(request(chat(text(4, 80), 'r')), eps())[0]).to.be.greaterThan(90);
    await p.close();
  });

  it('rejects bad args at configuration time', () => {
    expect(() => precisePrefix({ tokenizer: 'bert' })).to.throw(/tokenizer/);
    expect(() => precisePrefix({ eventsPort: 70000 })).to.throw(/eventsPort/);
    expect(() => precisePrefix({ fallback: 'guess' })).to.throw(/fallback/);
  });
});
