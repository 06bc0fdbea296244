import { setTimeout as sleep } from 'node:timers/promises';
import { Agent } from 'undici';
import { arrivalTimes } from './arrivals.js';
import { sendRequest, type RequestResult, type Target } from './client.js';
import { requestStream, type LoadRequest } from './generate.js';
import { buildReport, type LoadReport, type RunSettings } from './report.js';
import { Rng } from './random.js';
import { summarize } from './stats.js';
import { DEFAULT_WORKLOAD, type Workload } from './workload.js';

export interface LoadOptions {
  /** Base URL of an OpenAI-compatible server, e.g. `http://127.0.0.1:8080`; a path prefix (`/openai`) is kept. */
  url: string;
  /** What to send (default: short single prompts). Its `run` section supplies defaults for the options below. */
  workload?: Workload;
  /** Seeds the request sequence and the arrival times. Default 1. */
  seed?: number;
  /** Model for classes the workload names none for. */
  model?: string;
  /** An explicit request sequence (e.g. from `generateRequests`) instead of the workload's; ends the run when exhausted. */
  requests?: Iterable<LoadRequest>;
  /** Open loop: requests per second. */
  rate?: number;
  /** Open loop: Gamma shape of the gaps; 1 (default) = Poisson, < 1 bursty. */
  burstiness?: number;
  /** Closed loop: requests kept in flight. With `rate`, a cap on requests in flight instead. */
  concurrency?: number;
  /** Stop sending after this long; requests in flight are still awaited. */
  durationSeconds?: number;
  /** Stop after sending this many requests. */
  maxRequests?: number;
  /** Per-request timeout. Default 300 s. */
  timeoutMs?: number;
  /** Sent with every request (e.g. `authorization`). */
  headers?: Record<string, string>;
  onProgress?: (p: Progress) => void;
  /** Default 1000 ms. */
  progressIntervalMs?: number;
  /** Stops the run: nothing more is sent and requests in flight are cancelled; the report covers what completed. */
  signal?: AbortSignal;
}

export interface Progress {
  elapsedSeconds: number;
  sent: number;
  completed: number;
  failed: number;
  inFlight: number;
  requestsPerSecond: number;
  ttftP50Ms: number;
  e2eP50Ms: number;
}

/** Runs a load test to completion and reports on it. */
export async function runLoad(opts: LoadOptions): Promise<LoadReport> {
  const workload = opts.workload ?? DEFAULT_WORKLOAD;
  const settings = resolveSettings(opts, workload);
  const url = new URL(opts.url);
  const abort = new AbortController();
  const onAbort = () => abort.abort();
  opts.signal?.addEventListener('abort', onAbort, { once: true });
  if (opts.signal?.aborted) abort.abort();
  const dispatcher = new Agent({ keepAliveTimeout: 4_000, connect: { timeout: 10_000 } });
  const t0 = performance.now();
  const target: Target = {
    dispatcher,
    origin: url.origin,
    basePath: url.pathname.replace(/\/+$/, ''),
    headers: opts.headers ?? {},
    timeoutMs: opts.timeoutMs ?? 300_000,
    signal: abort.signal,
    now: () => performance.now() - t0,
  };
  const run = new Run(target, (opts.requests ?? requestStream(workload, settings.seed, opts.model))[Symbol.iterator](), settings);
  const progress = opts.onProgress
    ? setInterval(() => opts.onProgress!(run.progress()), opts.progressIntervalMs ?? 1000)
    : undefined;
  try {
    if (settings.mode === 'open-loop') await run.openLoop();
    else await run.closedLoop();
  } finally {
    if (progress) clearInterval(progress);
    opts.signal?.removeEventListener('abort', onAbort);
    await dispatcher.destroy();
  }
  return buildReport(run.results, settings, { url: opts.url, workload: workload.name, wallSeconds: target.now() / 1000 });
}

function resolveSettings(opts: LoadOptions, workload: Workload): RunSettings {
  const d = workload.run;
  const rate = opts.rate ?? (opts.concurrency === undefined ? d.rate : undefined);
  // The command line picks the mode; a workload's rate + concurrency means open loop with a cap on requests in flight.
  const concurrency =
    opts.concurrency ?? (opts.rate === undefined ? d.concurrency : undefined) ?? (rate === undefined ? 1 : undefined);
  const durationSeconds = opts.durationSeconds ?? (opts.maxRequests === undefined ? d.durationSeconds : undefined);
  const maxRequests = opts.maxRequests ?? (opts.durationSeconds === undefined ? d.requests : undefined);
  if (durationSeconds === undefined && maxRequests === undefined && opts.requests === undefined) {
    throw new RangeError('set a duration or a request count (the workload sequence is endless)');
  }
  for (const [name, v] of Object.entries({ rate, concurrency, durationSeconds, maxRequests })) {
    if (v !== undefined && !(v > 0)) throw new RangeError(`${name} must be > 0`);
  }
  const burstiness = opts.burstiness ?? d.burstiness ?? 1;
  if (!(burstiness > 0)) throw new RangeError('burstiness must be > 0');
  return {
    mode: rate !== undefined ? 'open-loop' : 'closed-loop',
    rate,
    burstiness: rate !== undefined ? burstiness : undefined,
    concurrency,
    durationSeconds,
    maxRequests,
    seed: opts.seed ?? 1,
  };
}

/** The mutable state of one run. */
class Run {
  readonly results: RequestResult[] = [];
  private sent = 0;
  private inFlight = 0;
  private slotFreed: (() => void) | undefined;

  constructor(
    private readonly target: Target,
    private readonly source: Iterator<LoadRequest>,
    private readonly settings: RunSettings,
  ) {}

  async openLoop(): Promise<void> {
    const { rate, burstiness, concurrency, durationSeconds, seed } = this.settings;
    const times = arrivalTimes(rate!, burstiness!, new Rng(seed).fork('arrivals'));
    const endMs = durationSeconds === undefined ? Infinity : durationSeconds * 1000;
    const pending = new Set<Promise<void>>();
    const signal = this.target.signal;
    for (;;) {
      const at = times.next().value;
      if (at >= endMs || signal.aborted) break;
      const wait = at - this.target.now();
      if (wait > 0) {
        try {
          await sleep(wait, undefined, { signal });
        } catch {
          break;
        }
      }
      while (concurrency !== undefined && this.inFlight >= concurrency) {
        await new Promise<void>((r) => (this.slotFreed = r));
      }
      const req = this.take();
      if (!req) break;
      const p = this.send(req).then(() => {
        pending.delete(p);
      });
      pending.add(p);
    }
    await Promise.all(pending);
  }

  async closedLoop(): Promise<void> {
    const worker = async () => {
      for (let req = this.take(); req; req = this.take()) await this.send(req);
    };
    await Promise.all(Array.from({ length: this.settings.concurrency! }, worker));
  }

  progress(): Progress {
    const ok = this.results.filter((r) => r.ok);
    const elapsed = this.target.now() / 1000;
    return {
      elapsedSeconds: elapsed,
      sent: this.sent,
      completed: ok.length,
      failed: this.results.length - ok.length,
      inFlight: this.inFlight,
      requestsPerSecond: elapsed > 0 ? ok.length / elapsed : 0,
      ttftP50Ms: summarize(ok.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs]))).p50,
      e2eP50Ms: summarize(ok.map((r) => r.e2eMs)).p50,
    };
  }

  private take(): LoadRequest | undefined {
    const { maxRequests, durationSeconds } = this.settings;
    if (this.target.signal.aborted) return undefined;
    if (maxRequests !== undefined && this.sent >= maxRequests) return undefined;
    if (durationSeconds !== undefined && this.target.now() >= durationSeconds * 1000) return undefined;
    const next = this.source.next();
    if (next.done) return undefined;
    this.sent++;
    return next.value;
  }

  private async send(req: LoadRequest): Promise<void> {
    this.inFlight++;
    const result = await sendRequest(this.target, req);
    this.inFlight--;
    this.results.push(result);
    const freed = this.slotFreed;
    this.slotFreed = undefined;
    freed?.();
  }
}
