import { expect } from 'chai';
import { Agent } from 'undici';
import { sendRequest } from '../../../bench/loadgen/client.js';
import { generateRequests, type LoadRequest } from '../../../bench/loadgen/generate.js';
import { summarize } from '../../../bench/loadgen/stats.js';
import { parseWorkload } from '../../../bench/loadgen/workload.js';
import { MODEL, ROUTE_MODEL } from '../../../bench/scheduling/fleet.js';
import {
  aggregate,
  engineInput,
  fleetSimOptions,
  idealBound,
  requestBounds,
  type BoundFleet,
  type RequestBound,
} from '../../../bench/scheduling/ideal.js';
import { workloadTable } from '../../../bench/scheduling/table.js';
import { WORKLOADS, type BenchWorkload } from '../../../bench/scheduling/workloads.js';
import { Engine } from '../../../src/sim/engine.js';
import { startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { resolveOptions } from '../../../src/sim/options.js';
import type { SimRequest } from '../../../src/sim/sequence.js';
import type { CellResult } from '../../../bench/scheduling/cell.js';

const FLEET: BoundFleet = {
  instances: 8, slow: 2, slowSpeed: 0.5, kvBlocks: 3000, loras: ['adapter-0', 'adapter-1'], maxLoras: 2, port: 1,
};
const SIM = fleetSimOptions(FLEET);
const SEEDS = [1, 2, 3, 4, 5, 6, 7, 8];

const seq = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** A completions request whose prompt is given as token ids, so block boundaries are exact. */
function tokenRequest(index: number, tokens: number[], maxTokens: number, model = ROUTE_MODEL): LoadRequest {
  return {
    index, className: 't', model, path: '/v1/completions', stream: true, maxTokens, promptWords: tokens.length,
    body: { model, prompt: tokens, max_tokens: maxTokens, stream: true },
  };
}

const chat = (o: Record<string, unknown>) => parseWorkload({ api: 'chat', stream: true, models: ROUTE_MODEL, ...o }, String(o.name));

/** Small real workloads: a shared prefix of two chunked-prefill steps, a multi-turn history, a LoRA mix. */
const SMALL = {
  sharedPrefix: chat({
    name: 'sp', maxTokens: { min: 4, max: 12 },
    classes: [{ type: 'shared-prefix', name: 'sp', groups: 2, systemPromptWords: 2600, questionWords: 30 }],
  }),
  multiTurn: chat({
    name: 'mt', maxTokens: { min: 8, max: 40 },
    classes: [{ type: 'multi-turn', name: 'mt', conversations: 2, turns: 4, systemPromptWords: 100, userWords: { min: 10, max: 40 } }],
  }),
  loraMix: chat({
    name: 'lm', models: [{ name: ROUTE_MODEL, weight: 1 }, { name: 'adapter-0', weight: 1 }, { name: 'adapter-1', weight: 1 }],
    maxTokens: { min: 4, max: 16 }, classes: [{ type: 'single', name: 's', promptWords: { min: 20, max: 200 } }],
  }),
};

describe('bench ideal bound', () => {
  describe('ideal prefix cache', () => {
    it('reuses the longest prefix shared with any earlier request, in whole blocks', () => {
      const a = seq(0, 100);
      const b = [...a.slice(0, 64), ...seq(5000, 50)]; // shares exactly 4 blocks with a
      const c = [...a.slice(0, 70), ...seq(6000, 30)]; // shares 4 blocks and 6 tokens
      const d = [...b.slice(0, 80), ...seq(7000, 10)]; // shares 5 blocks with b, only 4 with a
      const [ra, rb, rc, rd] = requestBounds([a, b, c, d].map((t, i) => tokenRequest(i, t, 4)), SIM, 1, SEEDS);
      expect(ra!.cachedTokens).to.equal(0);
      expect(rb!.cachedTokens).to.equal(64);
      expect(rb!.promptTokens - rb!.cachedTokens).to.equal(114 - 64);
      expect(rc!.cachedTokens).to.equal(64);
      expect(rd!.cachedTokens).to.equal(80);
    });

    it('always leaves the last prompt token to compute, as the engine does', () => {
      const a = seq(0, 100);
      const [, same, aligned] = requestBounds(
        [tokenRequest(0, a, 4), tokenRequest(1, a, 4), tokenRequest(2, a.slice(0, 64), 4)], SIM, 1, SEEDS,
      );
      expect(same!.cachedTokens).to.equal(96);
      expect(aligned!.cachedTokens).to.equal(48);
    });

    it('keeps adapters apart: an adapter’s KV differs from the base model’s', () => {
      const a = seq(0, 100);
      const [, lora, lora2] = requestBounds(
        [tokenRequest(0, a, 4), tokenRequest(1, a, 4, 'adapter-0'), tokenRequest(2, a, 4, 'adapter-0')], SIM, 1, SEEDS,
      );
      expect(lora!.lora).to.equal('adapter-0');
      expect(lora!.cachedTokens).to.equal(0);
      expect(lora2!.cachedTokens).to.equal(96);
    });

    it('counts chat prompts as the simulator renders and tokenizes them', () => {
      const [req] = generateRequests(SMALL.multiTurn, 3, 1);
      const { tokens, maxTokens, lora } = engineInput(req!, SIM);
      expect(lora).to.equal(null);
      expect(maxTokens).to.equal(req!.maxTokens);
      // ~100 system words + 10..40 user words + role markers: about a token a word
      expect(tokens.length).to.be.within(110, 200);
    });
  });

  describe('minimal latencies', () => {
    it('sums chunked-prefill steps of 2,048 tokens and one decode step per further token (hand-computed)', () => {
      // Llama-3.1-8B on an A100 (src/sim/cost-model.ts): 12,000 prefill tokens/s, decode 12.5 ms + 0.1 ms per sequence,
      // 0.12 ms per 1,000 context tokens; LoRA batches 10% slower.
      const step1 = 2048 / 12 + 0.1 + (0.12 * 2048) / 1000;
      const step2 = 952 / 12 + 0.1 + (0.12 * 3000) / 1000;
      const decode = (ctx: number) => 12.5 + 0.1 + (0.12 * ctx) / 1000;
      const [base, lora] = requestBounds(
        [tokenRequest(0, seq(0, 3000), 3), tokenRequest(1, seq(0, 3000), 3, 'adapter-1')], SIM, 1, SEEDS,
      );
      expect(base!.ttftMs).to.be.closeTo(step1 + step2, 1e-9);
      expect(base!.e2eMs).to.be.closeTo(step1 + step2 + decode(3001) + decode(3002), 1e-9);
      expect(lora!.ttftMs).to.be.closeTo(1.1 * (step1 + step2), 1e-9);
      // computed tokens: 3,000 prompt + 2 decode, at 12,000 tokens/s
      expect(base!.computeMs).to.be.closeTo((3002 * 1000) / 12000, 1e-9);
    });

    it('costs one decode-floored step for a prompt whose prefix is cached', () => {
      const [, hit] = requestBounds([tokenRequest(0, seq(0, 3000), 1), tokenRequest(1, [...seq(0, 2992), ...seq(9000, 8)], 1)], SIM, 1, SEEDS);
      expect(hit!.cachedTokens).to.equal(2992);
      expect(hit!.ttftMs).to.be.closeTo(12.5 + 0.1 + (0.12 * 3000) / 1000, 1e-9);
      expect(hit!.e2eMs).to.equal(hit!.ttftMs);
    });
  });

  describe('run bound', () => {
    const req = (e2eMs: number, computeMs: number): RequestBound => ({
      promptTokens: 100, cachedTokens: 25, outputTokens: 10, lora: null, ttftMs: e2eMs / 2, e2eMs, computeMs,
    });

    it('ends no earlier than the last arrival plus its latency', () => {
      const b = aggregate('w', [req(50, 1), req(400, 1), req(50, 1)], [0, 100, 200], 7);
      expect(b.endMs).to.equal(500);
      expect(b.limitedBy).to.equal('latency');
      expect(b.throughput).to.be.closeTo(3 / 0.5, 1e-9);
      expect(b.outputTokensPerSecond).to.be.closeTo(30 / 0.5, 1e-9);
      expect(b.prefixHitRate).to.equal(0.25);
    });

    it('ends no earlier than the compute arriving after any moment allows on the whole fleet', () => {
      // From t=0: 1,010 ms of work on 1 GPU-equivalent; from t=1000: 1,000 ms more.
      const b = aggregate('w', [req(5, 10), req(5, 1000)], [0, 1000], 1);
      expect(b.endMs).to.equal(2000);
      expect(b.limitedBy).to.equal('compute');
      expect(aggregate('w', [req(5, 3000), req(5, 3000)], [0, 0], 2).endMs).to.equal(3000);
    });

    it('on a benchmark workload: at most the arrival-limited rate, percentiles as the cells compute them', () => {
      const w: BenchWorkload = { ...WORKLOADS.find((x) => x.name === 'short-prompt')!, requests: 60 };
      const b = idealBound(w, FLEET, 7);
      const per = requestBounds(generateRequests(w.workload, 7, 60), SIM, 1, SEEDS);
      // The last of 60 arrivals at 200 req/s comes ~300 ms in; it still needs its own latency.
      expect(b.requests).to.equal(60);
      expect(b.endMs).to.be.greaterThan(per[59]!.e2eMs);
      expect(b.throughput).to.be.at.most(60 / ((b.endMs - per[59]!.e2eMs) / 1000));
      expect(b.throughput).to.be.closeTo(60 / (b.endMs / 1000), 1e-9);
      expect(b.ttftP50).to.equal(summarize(per.map((r) => r.ttftMs)).p50);
      expect(b.e2eP99).to.equal(summarize(per.map((r) => r.e2eMs)).p99);
      // Same sequence, same bound: nothing random beyond the seed.
      expect(idealBound(w, FLEET, 7)).to.deep.equal(b);
      expect(idealBound(w, FLEET, 8).endMs).to.not.equal(b.endMs);
    });

    it('is the last table row, with ratios against random and no error count', () => {
      const cell = { policy: 'random', requests: 60, completed: 60, errors: {}, throughput: 10, outputTokensPerSecond: 100, ttftP50: 100, ttftP99: 200, e2eP99: 900, prefixHitRate: 0 } as unknown as CellResult;
      const bound = aggregate('w', [req(50, 1), req(400, 1), req(50, 1)], [0, 100, 200], 7);
      const lines = workloadTable([cell], bound).split('\n');
      expect(lines).to.have.length(4);
      expect(lines[3]).to.equal('| ideal bound | 6.00 | 60 | 25 | 197 | 393 | 25.0% | - | 0.60× | -75% |');
    });
  });

  describe('against the simulator', () => {
    const engines: Engine[] = [];
    afterEach(() => {
      for (const e of engines.splice(0)) e.stop();
    });

    // Virtual time: simulated time advances only by engine steps, whatever the host's load. The adapters are
    // loaded beforehand (they fit the slots), as the bound assumes.
    function engine(): Engine {
      const e = new Engine(resolveOptions({ ...SIM, kvBlocks: 20_000, timeScale: 0, seed: 1 }));
      engines.push(e);
      for (const name of SIM.loras) {
        e.lora.activate(name);
        e.lora.deactivate(name);
      }
      return e;
    }

    function submit(e: Engine, req: LoadRequest): Promise<SimRequest> {
      const { tokens, lora, maxTokens } = engineInput(req, SIM);
      return new Promise((resolve) => {
        e.submit({ promptTokens: tokens, maxTokens, lora, sink: { onToken: () => {}, onFinish: resolve } });
      });
    }

    for (const [name, workload] of Object.entries(SMALL)) {
      it(`equals what one engine achieves serving ${name} requests one at a time`, async () => {
        const requests = generateRequests(workload, 7, 10);
        const bounds = requestBounds(requests, SIM, 1, SEEDS);
        const e = engine();
        for (const [i, req] of requests.entries()) {
          const r = await submit(e, req);
          expect(r.cachedPromptTokens, `request ${i} cached`).to.equal(bounds[i]!.cachedTokens);
          expect(r.ttftSimMs!, `request ${i} TTFT`).to.be.closeTo(bounds[i]!.ttftMs, 1e-6);
          expect(r.finishSim! - r.arrivalSim, `request ${i} e2e`).to.be.closeTo(bounds[i]!.e2eMs, 1e-6);
          expect(r.numOutput).to.equal(bounds[i]!.outputTokens);
        }
        if (name !== 'loraMix') expect(bounds.some((b) => b.cachedTokens > 0)).to.equal(true);
      });
    }

    it('is never beaten by one engine serving a whole sequence at once', async () => {
      const requests = [...generateRequests(SMALL.sharedPrefix, 5, 8), ...generateRequests(SMALL.multiTurn, 5, 8).map((r) => ({ ...r, index: r.index + 8 }))];
      const bounds = requestBounds(requests, SIM, 1, SEEDS);
      const e = engine();
      const served = await Promise.all(requests.map((r) => submit(e, r)));
      let slower = 0;
      for (const [i, r] of served.entries()) {
        expect(r.ttftSimMs!, `request ${i} TTFT`).to.be.at.least(bounds[i]!.ttftMs - 1e-6);
        expect(r.finishSim! - r.arrivalSim, `request ${i} e2e`).to.be.at.least(bounds[i]!.e2eMs - 1e-6);
        expect(r.cachedPromptTokens).to.be.at.most(bounds[i]!.cachedTokens);
        if (r.ttftSimMs! > bounds[i]!.ttftMs * 1.5) slower++;
      }
      expect(slower, 'batching and queueing must cost something').to.be.greaterThan(0);
    });

    describe('over HTTP', () => {
      let sim: SimulatorHandle | undefined;
      let agent: Agent | undefined;
      after(async () => {
        await agent?.close();
        await sim?.close();
      });

      it('is below the TTFT and latency the benchmark client measures, in modelled time', async () => {
        const timeScale = 0.5;
        sim = await startSimulator({ ...SIM, host: '127.0.0.1', port: 0, timeScale });
        agent = new Agent();
        const [req] = generateRequests(SMALL.sharedPrefix, 7, 1);
        const bound = requestBounds([req!], SIM, 1, SEEDS)[0]!;
        expect(bound.promptTokens).to.be.greaterThan(2048); // two prefill steps
        const url = new URL(sim.url);
        const t0 = performance.now();
        const res = await sendRequest(
          {
            dispatcher: agent, origin: url.origin, basePath: '', headers: {}, timeoutMs: 10_000,
            signal: new AbortController().signal, now: () => performance.now() - t0,
          },
          // The router forwards the body with the route's model renamed to the ModelServer's.
          { ...req!, body: { ...req!.body, model: MODEL } },
        );
        expect(res.ok, res.error).to.equal(true);
        expect(res.outputTokens).to.equal(bound.outputTokens);
        expect(res.promptTokens).to.equal(bound.promptTokens);
        const ttft = res.ttftMs! / timeScale;
        expect(ttft).to.be.at.least(bound.ttftMs);
        expect(res.e2eMs / timeScale).to.be.at.least(bound.e2eMs);
        // Alone on an idle engine it gets close (host overhead only): the bound is in the same (modelled) time.
        expect(ttft).to.be.below(bound.ttftMs * 1.5 + 100);
      });
    });
  });
});
