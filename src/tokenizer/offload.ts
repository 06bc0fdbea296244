import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { logger } from '../observability/logger.js';
import type { TokenizerRegistration } from './registry.js';
import type { WorkerJob, WorkerReply } from './worker.js';

// One lazily started worker thread for big prompts. Jobs that cannot be served in time (worker busy, crashed or too
// slow) resolve to `undefined` and the caller falls back to an estimate, so a request is never held up for long.

interface Pending {
  resolve: (v: number | number[] | undefined) => void;
  timer: NodeJS.Timeout;
}

export interface OffloadOptions {
  timeoutMs: number;
  maxQueued: number;
}

export class TokenizerWorker {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;

  constructor(
    private readonly registrations: () => TokenizerRegistration[],
    private readonly options: () => OffloadOptions,
  ) {}

  run(op: WorkerJob['op'], model: string, text: string): Promise<number | number[] | undefined> {
    const { timeoutMs, maxQueued } = this.options();
    if (this.pending.size >= maxQueued) return Promise.resolve(undefined);
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        resolve(undefined);
      }, timeoutMs);
      this.pending.set(id, { resolve, timer });
      worker.postMessage({ id, op, model, text } satisfies WorkerJob);
    });
  }

  /** Stops the worker (registrations changed, or shutdown); queued jobs resolve to `undefined`. */
  async stop(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.failAll();
    if (w) await w.terminate();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(workerBootstrap(), { eval: true, workerData: { registrations: this.registrations() } });
    w.unref();
    w.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      clearTimeout(p.timer);
      if ('error' in reply) {
        logger.warn({ err: reply.error }, 'tokenizer worker job failed');
        p.resolve(undefined);
      } else {
        p.resolve(reply.result);
      }
    });
    w.on('error', (err) => logger.error({ err: err.message }, 'tokenizer worker crashed'));
    w.on('exit', () => {
      if (this.worker === w) {
        this.worker = undefined;
        this.failAll();
      }
    });
    this.worker = w;
    return w;
  }

  private failAll(): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve(undefined);
    }
    this.pending.clear();
  }
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
