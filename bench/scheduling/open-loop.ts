import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { arrivalTimes } from '../loadgen/arrivals.js';
import { sendRequest, type RequestResult, type Target } from '../loadgen/client.js';
import type { LoadRequest } from '../loadgen/generate.js';
import { Rng } from '../loadgen/random.js';

// Open-loop replay of a fixed request sequence: request i leaves at the i-th arrival time of the seeded process,
// whether or not earlier ones finished, so every policy faces exactly the same offered load. The load generator's
// client measures each request.

export interface ReplayOptions {
  /** Router proxies: request i goes to urls[i % urls.length] (router replicas sharing a fleet). */
  urls: string[];
  requests: readonly LoadRequest[];
  /** Requests per second (wall clock). */
  rate: number;
  /** Gamma shape of the gaps: 1 = Poisson, below 1 bursty. */
  burstiness: number;
  seed: number;
  timeoutMs: number;
  /** Started (not awaited) when request `index` is about to leave: a fault injected mid-run. */
  event?: { index: number; run: () => Promise<void> };
}

export interface Replay {
  results: RequestResult[];
  /** From the start of the replay (the first request leaves one arrival gap later) to the last completion, ms. */
  wallMs: number;
}

export async function replay(o: ReplayOptions): Promise<Replay> {
  const dispatcher = new Agent({ keepAliveTimeout: 10_000, connections: 1024, connect: { timeout: 10_000 } });
  const t0 = performance.now();
  const targets: Target[] = o.urls.map((u) => {
    const url = new URL(u);
    return {
      dispatcher,
      origin: url.origin,
      basePath: url.pathname.replace(/\/+$/, ''),
      headers: {},
      timeoutMs: o.timeoutMs,
      signal: new AbortController().signal,
      now: () => performance.now() - t0,
    };
  });
  const base = targets[0]!;
  const times = arrivalTimes(o.rate, o.burstiness, new Rng(o.seed).fork('arrivals'));
  const results: RequestResult[] = [];
  const pending: Array<Promise<void>> = [];
  try {
    for (const [i, req] of o.requests.entries()) {
      const wait = times.next().value - base.now();
      if (wait > 0) await sleep(wait);
      if (o.event?.index === i) pending.push(o.event.run());
      pending.push(
        sendRequest(targets[i % targets.length]!, req).then((r) => {
          results.push(r);
        }),
      );
    }
    await Promise.all(pending);
  } finally {
    await dispatcher.destroy();
  }
  return { results, wallMs: base.now() };
}
