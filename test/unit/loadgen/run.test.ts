import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { generateRequests } from '../../../bench/loadgen/generate.js';
import { runLoad } from '../../../bench/loadgen/runner.js';
import { parseWorkload } from '../../../bench/loadgen/workload.js';

// A tiny OpenAI-style SSE server on its own loopback address: streams `max_tokens` one-word deltas 5 ms apart, then
// usage. Every fifth request (by arrival) is refused with a 503 when `failEvery` is set.
interface Fake {
  url: string;
  bodies: Array<Record<string, unknown>>;
  maxOpen: number;
  failEvery: number;
  server: Server;
}

async function startFake(): Promise<Fake> {
  const fake: Fake = { url: '', bodies: [], maxOpen: 0, failEvery: 0, server: undefined as unknown as Server };
  let open = 0;
  fake.server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as Record<string, unknown>;
      fake.bodies.push(body);
      if (fake.failEvery && fake.bodies.length % fake.failEvery === 0) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"busy"}}');
        return;
      }
      open++;
      fake.maxOpen = Math.max(fake.maxOpen, open);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const n = body.max_tokens as number;
      let i = 0;
      const tick = setInterval(() => {
        if (i < n) {
          res.write(`data: ${JSON.stringify({ model: body.model, choices: [{ index: 0, delta: { content: ' w' } }] })}\n\n`);
          i++;
          return;
        }
        clearInterval(tick);
        res.write(`data: ${JSON.stringify({ choices: [], usage: { prompt_tokens: 3, completion_tokens: n } })}\n\n`);
        res.end('data: [DONE]\n\n');
        open--;
      }, 5);
      res.on('close', () => clearInterval(tick));
    });
  });
  await new Promise<void>((r) => fake.server.listen(0, '127.0.42.1', r));
  fake.url = `http://127.0.42.1:${(fake.server.address() as AddressInfo).port}`;
  return fake;
}

const workload = parseWorkload({
  models: 'm',
  maxTokens: { min: 2, max: 6 },
  classes: [
    { type: 'shared-prefix', name: 'sp', groups: 2, systemPromptWords: 50, questionWords: 5 },
    { type: 'single', name: 'one', promptWords: 10 },
  ],
});

describe('loadgen run against a local SSE server', () => {
  let fake: Fake;
  beforeEach(async () => {
    fake = await startFake();
  });
  afterEach(async () => {
    fake.server.closeAllConnections();
    await new Promise((r) => fake.server.close(r));
  });

  it('closed loop: sends the exact generated sequence, holds the concurrency and measures every request', async () => {
    const report = await runLoad({ url: fake.url, workload, seed: 5, concurrency: 3, maxRequests: 12 });
    const expected = generateRequests(workload, 5, 12);
    expect(fake.bodies).to.have.length(12);
    // Workers take requests in sequence order; concurrent ones may reach the server in either order.
    const canonical = (bodies: unknown[]) => bodies.map((b) => JSON.stringify(b)).sort();
    expect(canonical(fake.bodies)).to.deep.equal(canonical(expected.map((r) => r.body)));
    expect(fake.maxOpen).to.equal(3);
    expect(report).to.deep.include({ sent: 12, completed: 12, failed: 0 });
    expect(report.outputTokens).to.equal(expected.reduce((n, r) => n + r.maxTokens, 0));
    expect(report.ttftMs.count).to.equal(12);
    expect(report.ttftMs.p50).to.be.greaterThan(0).and.below(report.e2eMs.p50);
    // Tokens come 5 ms apart.
    expect(report.tpotMs.p50).to.be.within(3, 40);
    expect(report.classes.sp!.sent + report.classes.one!.sent).to.equal(12);
    expect(report.settings).to.deep.include({ mode: 'closed-loop', concurrency: 3, seed: 5 });
  });

  it('open loop: Poisson arrivals at the rate, errors counted by status', async () => {
    fake.failEvery = 5;
    const progress: number[] = [];
    const report = await runLoad({
      url: fake.url,
      workload,
      seed: 2,
      rate: 100,
      maxRequests: 20,
      onProgress: (p) => progress.push(p.sent),
      progressIntervalMs: 20,
    });
    expect(report).to.deep.include({ sent: 20, completed: 16, failed: 4 });
    expect(report.errors).to.deep.equal({ '503': 4 });
    expect(report.settings).to.deep.include({ mode: 'open-loop', rate: 100, burstiness: 1 });
    // 20 arrivals at 100/s take about 0.2 s; the run ends after the last stream (≤ 6 tokens × 5 ms) finishes.
    expect(report.durationSeconds).to.be.within(0.05, 1.5);
    expect(progress.length).to.be.greaterThan(0);
  });

  it('counts refused connections and honours the per-request timeout', async () => {
    const refused = await runLoad({ url: 'http://127.0.42.2:1', workload, concurrency: 2, maxRequests: 4 });
    expect(refused.errors).to.deep.equal({ ECONNREFUSED: 4 });
    const slow = parseWorkload({ models: 'm', maxTokens: 200, classes: [{ type: 'single', promptWords: 3 }] });
    const timedOut = await runLoad({ url: fake.url, workload: slow, concurrency: 1, maxRequests: 1, timeoutMs: 100 });
    expect(timedOut.errors).to.deep.equal({ timeout: 1 });
  });

  it('stops on the caller signal and reports what completed', async () => {
    const stop = new AbortController();
    setTimeout(() => stop.abort(), 150);
    const report = await runLoad({ url: fake.url, workload, concurrency: 2, durationSeconds: 30, signal: stop.signal });
    expect(report.durationSeconds).to.be.below(2);
    expect(report.completed).to.be.greaterThan(0);
    expect(report.sent - report.completed).to.be.at.most(2);
  });
});
