import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { logger } from '../observability/logger.js';
import type { TokenizerRegistration } from './registry.js';
import { cutText } from './text-cut.js';
import type { WorkerJob, WorkerReply } from './worker.js';

// A pool of lazily started worker threads for big prompts. A job is cut into slices at places where the tokenizer
// splits anyway (exact results), and the workers take slices round-robin across jobs, so one huge prompt neither
// holds a worker for long nor delays the small ones queued behind it. A job that times out or whose request goes
// away drops its remaining slices at once; one that cannot be served in time (pool busy or crashed, queue full)
// resolves to `undefined` and the caller estimates instead, so a request is never held up for long.

export type JobResult = number | number[] | undefined;

export interface OffloadOptions {
  timeoutMs: number;
  /** Jobs in the pool (queued or running) at most; more are refused at once. */
  maxQueued: number;
  workers: number;
  /** Slice length in UTF-16 units (a slice is the unit of work a worker cannot be interrupted in). */
  sliceChars: number;
}

interface Job {
  op: WorkerJob['op'];
  model: string;
  slices: string[];
  results: (number | number[])[];
  next: number;
  remaining: number;
  done: boolean;
  finish(result: JobResult): void;
}

interface Slot {
  worker: Worker;
  /** The slice it is working on. */
  busy: { id: number; job: Job; index: number } | undefined;
}

export class TokenizerWorkerPool {
  private slots: Slot[] = [];
  /** Jobs with slices not yet handed out, served round-robin. */
  private readonly ready: Job[] = [];
  private readonly active = new Set<Job>();
  private nextId = 1;

  constructor(
    private readonly registrations: () => TokenizerRegistration[],
    private readonly options: () => OffloadOptions,
  ) {}

  /** Jobs queued or running. */
  get pending(): number {
    return this.active.size;
  }

  get threads(): number {
    return this.slots.length;
  }

  run(op: WorkerJob['op'], model: string, text: string, signal?: AbortSignal): Promise<JobResult> {
    const { timeoutMs, maxQueued, sliceChars } = this.options();
    if (signal?.aborted || this.active.size >= maxQueued) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const slices = cutText(text, sliceChars);
      const onAbort = () => job.finish(undefined);
      const timer = setTimeout(onAbort, timeoutMs);
      const job: Job = {
        op,
        model,
        slices,
        results: new Array(slices.length),
        next: 0,
        remaining: slices.length,
        done: false,
        finish: (result) => {
          if (job.done) return;
          job.done = true;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          this.active.delete(job);
          const at = this.ready.indexOf(job);
          if (at >= 0) this.ready.splice(at, 1);
          resolve(result);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.active.add(job);
      this.ready.push(job);
      this.dispatch();
    });
  }

  /** Stops the workers (registrations changed, or shutdown); jobs in the pool resolve to `undefined`. */
  async stop(): Promise<void> {
    const slots = this.slots;
    this.slots = [];
    for (const job of [...this.active]) job.finish(undefined);
    await Promise.all(slots.map((s) => s.worker.terminate()));
  }

  private dispatch(): void {
    while (this.ready.length > 0) {
      const slot = this.idleSlot();
      if (!slot) return;
      const job = this.ready.shift()!;
      const index = job.next++;
      if (job.next < job.slices.length) this.ready.push(job);
      const id = this.nextId++;
      slot.busy = { id, job, index };
      slot.worker.postMessage({ id, op: job.op, model: job.model, text: job.slices[index]! } satisfies WorkerJob);
      job.slices[index] = ''; // the worker has its copy
    }
  }

  private idleSlot(): Slot | undefined {
    const idle = this.slots.find((s) => s.busy === undefined);
    if (idle) return idle;
    if (this.slots.length >= Math.max(1, this.options().workers)) return undefined;
    const slot = this.startWorker();
    this.slots.push(slot);
    return slot;
  }

  private startWorker(): Slot {
    const w = new Worker(workerBootstrap(), { eval: true, workerData: { registrations: this.registrations() } });
    w.unref();
    const slot: Slot = { worker: w, busy: undefined };
    w.on('message', (reply: WorkerReply) => {
      const busy = slot.busy;
      if (!busy || busy.id !== reply.id) return;
      slot.busy = undefined;
      const { job, index } = busy;
      if (!job.done) {
        if ('error' in reply) {
          logger.warn({ err: reply.error }, 'tokenizer worker job failed');
          job.finish(undefined);
        } else {
          job.results[index] = reply.result;
          if (--job.remaining === 0) job.finish(combine(job.results));
        }
      }
      this.dispatch();
    });
    w.on('error', (err) => logger.error({ err: err.message }, 'tokenizer worker crashed'));
    w.on('exit', () => {
      const at = this.slots.indexOf(slot);
      if (at < 0) return;
      this.slots.splice(at, 1);
      slot.busy?.job.finish(undefined);
      this.dispatch();
    });
    return slot;
  }
}

function combine(results: (number | number[])[]): number | number[] {
  if (typeof results[0] === 'number') return (results as number[]).reduce((a, b) => a + b, 0);
  return (results as number[][]).flat();
}

/**
 * Code that loads worker.ts/js. In the compiled build the worker is plain JS next to this file. Under tsx (tests,
 * `npm start`) Node 20 does not apply the parent's `--import tsx` hooks to a worker's entry module, so the bootstrap
 * registers tsx itself before importing the TypeScript source.
 */
function workerBootstrap(): string {
  const underTsx = import.meta.url.endsWith('.ts');
  const entry = JSON.stringify(new URL(underTsx ? './worker.ts' : './worker.js', import.meta.url).href);
  if (!underTsx) return `import(${entry})`;
  const tsx = JSON.stringify(tsxApiUrl());
  return `import(${tsx}).then((tsx) => { tsx.register(); return import(${entry}); })`;
}

/** URL of tsx's ESM API. tsx may have compiled this file as CommonJS (mocha loads tests through require), where
 * import.meta.resolve is missing: then take the ESM file next to the CommonJS build that require.resolve finds. */
function tsxApiUrl(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  return pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api').replace(/\.cjs$/, '.mjs')).href;
}
