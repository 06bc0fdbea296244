import { expect } from 'chai';
import { SimClock } from '../../../src/sim/clock.js';
import { DEFAULT_COST, stepDurationMs } from '../../../src/sim/cost-model.js';
import { Engine } from '../../../src/sim/engine.js';
import { resolveOptions, type SimOptionsInput } from '../../../src/sim/options.js';
import type { SimRequest } from '../../../src/sim/sequence.js';

const seq = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

interface Running {
  req: SimRequest;
  done: Promise<{ req: SimRequest; text: string }>;
}

describe('sim engine', () => {
  const engines: Engine[] = [];
  afterEach(() => {
    for (const e of engines.splice(0)) e.stop();
  });

  // Virtual time by default: requests submitted together arrive together, whatever the host's load.
  function engine(over: SimOptionsInput = {}): Engine {
    const e = new Engine(resolveOptions({ timeScale: 0, ...over }));
    engines.push(e);
    return e;
  }

  function start(e: Engine, promptTokens: number[], maxTokens: number, lora: string | null = null): Running {
    let text = '';
    let resolve!: (v: { req: SimRequest; text: string }) => void;
    const done = new Promise<{ req: SimRequest; text: string }>((r) => (resolve = r));
    const req = e.submit({
      promptTokens,
      maxTokens,
      lora,
      sink: { onToken: (t) => (text += t), onFinish: (r) => resolve({ req: r, text }) },
    });
    return { req, done };
  }

  const run = (e: Engine, prompt: number[], maxTokens: number, lora: string | null = null) =>
    start(e, prompt, maxTokens, lora).done;

  it('serves a prefix-cache hit with a much lower TTFT than a miss', async () => {
    const e = engine();
    const miss = await run(e, seq(0, 2000), 4);
    const hit = await run(e, [...seq(0, 1900), ...seq(50_000, 100)], 4);
    const otherMiss = await run(e, seq(90_000, 2000), 4);
    expect(miss.req.cachedPromptTokens).to.equal(0);
    expect(hit.req.cachedPromptTokens).to.equal(Math.floor(1900 / 16) * 16);
    expect(otherMiss.req.cachedPromptTokens).to.equal(0);
    expect(hit.req.ttftSimMs!).to.be.lessThan(miss.req.ttftSimMs! / 4);
    expect(otherMiss.req.ttftSimMs!).to.be.closeTo(miss.req.ttftSimMs!, miss.req.ttftSimMs! * 0.05);
    // ~2000 uncached tokens at 12000 tok/s
    expect(miss.req.ttftSimMs!).to.be.within(150, 185);
    expect(e.kv.usage()).to.equal(0);
  });

  it('reuses the blocks of generated tokens for a request that quotes the answer', async () => {
    const e = engine();
    const first = await run(e, seq(0, 64), 64);
    const next = [...first.req.tokens, ...seq(7000, 40)];
    const second = await run(e, next, 2);
    // everything up to the last full block that was computed (the final token never is)
    expect(second.req.cachedPromptTokens).to.equal(Math.floor((64 + 63) / 16) * 16);
  });

  it('gets slower per output token as the batch grows', async () => {
    const alone = await run(engine(), seq(0, 500), 40);
    const e = engine();
    const batch = await Promise.all(Array.from({ length: 32 }, (_, i) => run(e, seq(i * 1000, 500), 40)));
    const meanTpot = batch.reduce((s, r) => s + r.req.tpotSimMs!, 0) / batch.length;
    expect(alone.req.tpotSimMs!).to.be.closeTo(DEFAULT_COST.decodeBaseMs + 0.2, 0.5);
    expect(meanTpot).to.be.greaterThan(alone.req.tpotSimMs! * 1.25);
  });

  it('queues FCFS beyond max-num-seqs', async () => {
    const e = engine({ maxNumSeqs: 2 });
    const runs = [0, 1, 2, 3].map((i) => start(e, seq(i * 100, 20), 5));
    const done = (await Promise.all(runs.map((r) => r.done))).map((r) => r.req);
    const [a, b, c, d] = done;
    expect(c!.firstScheduledSim!).to.be.at.least(Math.min(a!.finishSim!, b!.finishSim!));
    expect(d!.firstScheduledSim!).to.be.at.least(c!.firstScheduledSim!);
    // never more than two running at once
    for (const r of done) {
      const t = r.firstScheduledSim!;
      const overlapping = done.filter((o) => o.firstScheduledSim! <= t && t < o.finishSim!);
      expect(overlapping.length).to.be.at.most(2);
    }
    expect(b!.firstScheduledSim!).to.be.lessThan(a!.finishSim!);
  });

  it('preempts (recompute) when KV blocks run out and still completes every request identically', async () => {
    const e = engine({ kvBlocks: 24, blockSize: 16 });
    const prompts = [0, 1, 2, 3].map((i) => seq(i * 1000, 64));
    const results = await Promise.all(prompts.map((p) => run(e, p, 120)));
    expect(e.snapshot().preemptions).to.be.greaterThan(0);
    expect(results.some((r) => r.req.preemptions > 0)).to.equal(true);
    for (const r of results) expect(r.req.numOutput).to.equal(120);
    // the same prompts run alone produce the same text: preemption loses time, not tokens
    const calm = engine();
    for (let i = 0; i < prompts.length; i++) expect((await run(calm, prompts[i]!, 120)).text).to.equal(results[i]!.text);
    expect(e.kv.usage()).to.equal(0);
  });

  it('limits distinct adapters per batch to max-loras and charges a load for a non-resident adapter', async () => {
    const e = engine({ loras: ['a', 'b'], maxLoras: 1, cost: { loraLoadMs: 200 } });
    const ra = start(e, seq(0, 20), 10, 'a');
    const rb = start(e, seq(100, 20), 10, 'b');
    const [a, b] = await Promise.all([ra.done, rb.done]);
    // b could not join a's batch: only one adapter slot
    expect(b.req.firstScheduledSim!).to.be.at.least(a.req.finishSim!);
    expect(a.req.ttftSimMs!).to.be.greaterThan(200);
    const reload = await run(e, seq(200, 20), 2, 'a'); // a was evicted by b
    const resident = await run(e, seq(300, 20), 2, 'a');
    expect(reload.req.ttftSimMs!).to.be.greaterThan(200);
    expect(resident.req.ttftSimMs!).to.be.lessThan(50);
    expect(e.lora.loadCount).to.equal(3);

    const roomy = engine({ loras: ['a', 'b'], maxLoras: 2 });
    const [a2, b2] = await Promise.all([run(roomy, seq(0, 20), 10, 'a'), run(roomy, seq(100, 20), 10, 'b')]);
    expect(b2.req.firstScheduledSim!).to.be.lessThan(a2.req.finishSim!);
  });

  it('frees blocks and the batch slot of an aborted request', async () => {
    const e = engine({ maxNumSeqs: 1, timeScale: 0.05 });
    const long = start(e, seq(0, 300), 5000);
    const next = start(e, seq(10_000, 30), 5);
    while (long.req.numOutput < 3) await new Promise((r) => setTimeout(r, 5));
    expect(e.snapshot()).to.include({ running: 1, waiting: 1 });
    e.abort(long.req);
    expect(long.req.status).to.equal('aborted');
    expect(long.req.blocks).to.have.length(0);
    const { req } = await next.done;
    expect(req.numOutput).to.equal(5);
    expect(e.snapshot()).to.include({ running: 0, waiting: 0, kvUsage: 0 });
  });

  it('scales step time with the speed factor and wall time with the time scale', async () => {
    const fast = await run(engine(), seq(0, 1000), 2);
    const slow = await run(engine({ speed: 0.5 }), seq(0, 1000), 2);
    expect(slow.req.ttftSimMs!).to.be.closeTo(fast.req.ttftSimMs! * 2, 1e-6);

    const scaled = await run(engine({ timeScale: 0.2 }), seq(0, 4000), 2);
    const expectedWall = scaled.req.ttftSimMs! * 0.2;
    expect(scaled.req.ttftWallMs!).to.be.within(expectedWall * 0.8, expectedWall * 2 + 50);
  });

  it('keeps serving when the host lags, without charging the stall as simulated time', async function () {
    this.timeout(5000);
    let wall = 0;
    const e = new Engine(resolveOptions({ timeScale: 1 }), undefined, new SimClock(1, () => wall));
    engines.push(e);
    // a's sink submits a follow-up (as a closed-loop client would) while the engine is catching up on the past
    const followUp = new Promise<{ req: SimRequest }>((resolve) => {
      e.submit({
        promptTokens: seq(0, 16),
        maxTokens: 2,
        lora: null,
        sink: { onToken() {}, onFinish: () => void start(e, seq(300, 16), 2).done.then(resolve) },
      });
    });
    wall = 10_000; // the host stalls for 10 s before the engine loop runs
    const later = [start(e, seq(100, 16), 2), start(e, seq(200, 16), 2)];
    const tick = setInterval(() => (wall += 5), 5);
    try {
      const d = await followUp;
      const rest = await Promise.all(later.map((r) => r.done));
      for (const r of [d, ...rest]) expect(r.req.ttftSimMs!).to.be.within(0, 100);
      expect(e.snapshot()).to.include({ running: 0, waiting: 0 });
    } finally {
      clearInterval(tick);
    }
  });

  it('rejects requests that can never fit', () => {
    const e = engine({ kvBlocks: 4, blockSize: 16 });
    expect(e.maxModelLen).to.equal(64);
    expect(() => e.submit({ promptTokens: seq(0, 60), maxTokens: 10, lora: null, sink: { onToken() {}, onFinish() {} } }))
      .to.throw(RangeError);
    expect(() => e.submit({ promptTokens: seq(0, 6), maxTokens: 1, lora: 'nope', sink: { onToken() {}, onFinish() {} } }))
      .to.throw(/unknown adapter/);
  });

  it('calibration: cost model matches the documented Llama-3.1-8B / A100 profile', () => {
    const step = (seqs: number, ctxPerSeq: number) =>
      stepDurationMs(DEFAULT_COST, { seqs, computedTokens: seqs, contextTokens: seqs * ctxPerSeq, loraLoads: 0, hasLora: false }, 1);
    expect(step(1, 1100)).to.be.within(12, 14); // ~75 tok/s at batch 1
    const b8 = step(8, 1100);
    expect((8 / b8) / (1 / step(1, 1100))).to.be.within(6, 7.5); // ~6.6x throughput at batch 8
    expect(step(64, 1100)).to.be.within(24, 32); // batch 64
    const prefill = stepDurationMs(DEFAULT_COST, { seqs: 1, computedTokens: 1024, contextTokens: 1024, loraLoads: 0, hasLora: false }, 1);
    expect(prefill).to.be.within(80, 95); // 1k-token prompt
    // decode tokens ride along a prefill chunk: adding 8 of them costs far less than 8 decode steps
    const mixed = stepDurationMs(DEFAULT_COST, { seqs: 9, computedTokens: 1032, contextTokens: 1024 + 8 * 1100, loraLoads: 0, hasLora: false }, 1);
    expect(mixed - prefill).to.be.lessThan(step(8, 1100));
  });
});
