import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// Router replicas sharing one fleet, all real processes: simulated vLLM pods publishing KV-cache events, two
// replicas scoring with precise-prefix (one started only after the traffic, catching up through the replay socket)
// and one with the approximate prefix-cache index. The precise replicas converge on the same view and both send a
// prompt where its prefix is cached; the approximate replica, which never saw that traffic, cannot know.

const PORT = 18_601;
const IPS = ['127.0.117.1', '127.0.117.2', '127.0.117.3'];
const KV_EVENTS = '{"enable_kv_cache_events": true, "publisher": "zmq", "endpoint": "tcp://*:5557", "replay_endpoint": "tcp://*:5558"}';
const scorer = (name: string, args: string) => `
metrics: {scrapeIntervalMs: 100}
scheduler:
  pluginConfig: [{name: ${name}, args: ${args}}]
  plugins: {Score: {enabled: [{name: ${name}, weight: 1}]}}
`;
const WORDS = 'amber birch cedar delta ember fjord grove heron inlet juniper'.split(' ');
const system = (seed: number) => Array.from({ length: 120 }, (_, i) => WORDS[(i + seed) % WORDS.length]! + (seed * 1000 + i)).join(' ');

describe('router replicas converge on the engines’ KV-cache view', function () {
  this.timeout(180_000);
  let dir: string;
  let sims: SimProcess[] = [];
  const routers: RouterProcess[] = [];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-kv-replicas-'));
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('m', { port: PORT, model: 'm' }),
      modelRouteYaml('m', 'm'),
      ...IPS.map((ip, i) => podYaml(`m-${i}`, ip, 'm')),
    ));
    await writeFile(join(dir, 'precise.yaml'), scorer('precise-prefix', '{tokenizer: simulator, replayPort: 5558, reconnectMs: 50}'));
    await writeFile(join(dir, 'approx.yaml'), scorer('prefix-cache', '{}'));
    sims = await Promise.all(IPS.map((ip) => startSimProcess(ip, PORT, ['--model', 'm', '--time-scale', '0', '--max-tokens-cap', '2', '--kv-events-config', KV_EVENTS])));
  });

  after(async () => {
    await Promise.all(routers.map((r) => r.stop()));
    await Promise.all(sims.map((s) => s.kill()));
    await rm(dir, { recursive: true, force: true });
  });

  const start = async (config: string) => {
    const r = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, config)]);
    routers.push(r);
    return r;
  };
  /** Prefix-cache queries (tokens) each simulated pod has seen. */
  const queries = async () =>
    Promise.all(sims.map(async (s) => Number(/vllm:prefix_cache_queries_total\{[^}]*\} (\S+)/.exec(await (await fetch(`${s.url}/metrics`)).text())?.[1] ?? 0)));
  /** Sends one chat request through a replica's proxy; returns the index of the pod that served it. */
  const ask = async (r: RouterProcess, seed: number, question: string) => {
    const before = await queries();
    const res = await fetch(`http://127.0.0.1:${r.ports.http}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'm', messages: [{ role: 'system', content: system(seed) }, { role: 'user', content: question }], max_tokens: 2 }),
    });
    expect(res.status).to.equal(200);
    await res.text();
    const after = await queries();
    const served = after.findIndex((q, i) => q > before[i]!);
    expect(served).to.be.at.least(0);
    return served;
  };
  const views = async (r: RouterProcess) => {
    const text = await (await fetch(`http://127.0.0.1:${r.ports.metrics}/metrics`)).text();
    return IPS.map((ip) => Number(new RegExp(`kthena_router_kv_events_blocks\\{endpoint="${ip.replace(/\./g, '\\.')}:${PORT}"\\} (\\S+)`).exec(text)?.[1] ?? -1));
  };

  it('a late replica catches up through replay; precise replicas agree where prefixes are, the approximate one drifts', async () => {
    const first = await start('precise.yaml');
    const approx = await start('approx.yaml');
    const prefixes = [1, 2, 3, 4, 5, 6, 7, 8];
    const home = new Map<number, number>();
    for (const p of prefixes) home.set(p, await ask(first, p, 'first question'));

    const late = await start('precise.yaml');
    // The late replica subscribes on its first request; until then it knows nothing, which this request shows too.
    await ask(late, 99, 'warm up');
    const deadline = Date.now() + 20_000;
    let a = await views(first);
    let b = await views(late);
    // Every pod's view is published (-1: no series yet) and holds the first replica's traffic (not every pod need get some).
    while (JSON.stringify(a) !== JSON.stringify(b) || a.some((n) => n < 0) || a.reduce((x, y) => x + y, 0) === 0) {
      if (Date.now() > deadline) throw new Error(`views never converged: ${a} vs ${b}`);
      await new Promise((r) => setTimeout(r, 100));
      [a, b] = [await views(first), await views(late)];
    }

    let precise = 0;
    let guessed = 0;
    for (const p of prefixes) {
      if ((await ask(late, p, 'second question')) === home.get(p)) precise++;
      if ((await ask(approx, p, 'third question')) === home.get(p)) guessed++;
    }
    expect(precise).to.equal(prefixes.length);
    // Three pods and no knowledge: all eight right by chance has probability 3^-8.
    expect(guessed).to.be.lessThan(prefixes.length);
  });
});
