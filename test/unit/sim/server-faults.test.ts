import { expect } from 'chai';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { postJson, readSse, until } from './http-helpers.js';

const CHAT = { messages: [{ role: 'user', content: 'hello' }], max_tokens: 2 };

describe('sim server: aborts and injected faults', () => {
  let sim: SimulatorHandle;
  before(async () => {
    sim = await startSimulator({ maxNumSeqs: 1, timeScale: 0.2 });
  });
  afterEach(async () => {
    await postJson(`${sim.url}/admin/fail`, { mode: 'ok' });
  });
  after(() => sim.close());

  const setFault = async (mode: string, scope?: string) => {
    const res = await postJson(`${sim.url}/admin/fail`, { mode, scope });
    expect(res.status).to.equal(200);
  };

  it('aborts the request of a client that disconnects and frees its slot for the next one', async () => {
    const ctrl = new AbortController();
    const res = await postJson(`${sim.url}/v1/completions`, { prompt: 'long answer please', max_tokens: 3000, stream: true }, { signal: ctrl.signal });
    const reader = res.body!.getReader();
    const first = await reader.read(); // one chunk arrived: the request is running
    expect(new TextDecoder().decode(first.value)).to.match(/^data: /);
    // a second request queues behind it (max-num-seqs 1)
    const queued = postJson(`${sim.url}/v1/chat/completions`, CHAT);
    await until(() => sim.engine.snapshot().waiting === 1);
    expect(sim.engine.snapshot().kvUsage).to.be.above(0);
    ctrl.abort();
    // 3000 tokens would take ~7 s of wall time at this scale; the queued request is served at once instead
    const started = Date.now();
    const body = await (await queued).json();
    expect(body.usage.completion_tokens).to.equal(2);
    expect(Date.now() - started).to.be.lessThan(2000);
    await until(() => sim.engine.snapshot().running === 0);
    expect(sim.engine.snapshot()).to.include({ waiting: 0, kvUsage: 0 });
  });

  it('mode 503 fails inference, health and metrics; scope inference spares health and metrics', async () => {
    await setFault('503');
    const res = await postJson(`${sim.url}/v1/chat/completions`, CHAT);
    expect(res.status).to.equal(503);
    expect((await res.json()).error.code).to.equal(503);
    expect((await fetch(`${sim.url}/health`)).status).to.equal(503);
    expect((await fetch(`${sim.url}/metrics`)).status).to.equal(503);
    await setFault('503', 'inference');
    expect((await postJson(`${sim.url}/v1/chat/completions`, CHAT)).status).to.equal(503);
    expect((await fetch(`${sim.url}/health`)).status).to.equal(200);
    expect((await fetch(`${sim.url}/metrics`)).status).to.equal(200);
    await setFault('ok');
    expect((await postJson(`${sim.url}/v1/chat/completions`, CHAT)).status).to.equal(200);
  });

  it('mode hang never answers, mode reset drops the connection', async () => {
    await setFault('hang');
    const hung = await postJson(`${sim.url}/v1/chat/completions`, CHAT, { signal: AbortSignal.timeout(300) }).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    expect(hung).to.equal('TimeoutError');
    await setFault('reset');
    const reset = await fetch(`${sim.url}/health`).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    expect(reset).to.equal('TypeError'); // fetch failed: connection reset
    expect(sim.engine.snapshot()).to.include({ running: 0, waiting: 0 });
  });

  it('rejects bad admin requests', async () => {
    expect((await postJson(`${sim.url}/admin/fail`, { mode: 'explode' })).status).to.equal(400);
    expect((await postJson(`${sim.url}/admin/fail`, { mode: 'hang', scope: 'some' })).status).to.equal(400);
    expect((await fetch(`${sim.url}/admin/fail`)).status).to.equal(405);
    const state = await (await fetch(`${sim.url}/admin/state`)).json();
    expect(state.faults.mode).to.equal('ok');
    expect(state.engine).to.include({ numBlocks: sim.options.kvBlocks });
  });

  it('--fail-rate answers a seeded fraction of inference requests with 503', async () => {
    const flaky = await startSimulator({ failRate: 0.5, seed: 3, timeScale: 0.02 });
    try {
      const statuses: number[] = [];
      for (let i = 0; i < 20; i++) statuses.push((await postJson(`${flaky.url}/v1/completions`, { prompt: 'x', max_tokens: 1 })).status);
      const failed = statuses.filter((s) => s === 503).length;
      expect(failed).to.be.within(3, 17);
      expect(statuses.filter((s) => s === 200).length).to.equal(20 - failed);
      expect((await fetch(`${flaky.url}/health`)).status).to.equal(200);
    } finally {
      await flaky.close();
    }
  });

  it('keeps streaming a request that was preempted and recomputed', async () => {
    const tight = await startSimulator({ kvBlocks: 24, blockSize: 16, timeScale: 0.02 });
    try {
      const prompt = (i: number) => `request number ${i} `.repeat(12);
      const results = await Promise.all(
        [0, 1, 2, 3].map((i) =>
          postJson(`${tight.url}/v1/completions`, { prompt: prompt(i), max_tokens: 120, stream: true }).then(readSse),
        ),
      );
      expect(tight.engine.snapshot().preemptions).to.be.greaterThan(0);
      for (const frames of results) {
        expect(frames.at(-1)).to.equal('[DONE]');
        expect(frames).to.have.length(121);
      }
    } finally {
      await tight.close();
    }
  });
});
