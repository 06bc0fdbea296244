import type { Logger } from '../../observability/logger.js';
import { Backoff, sleep } from './backoff.js';
import { KubeApiError, type KubeClient, type Query, type WatchEvent } from './kube-client.js';
import { relistsTotal, syncedGauge, watchRestartsTotal } from './metrics.js';

export interface ReflectorHandlers {
  /** The full current set (initial list, relist after 410 or after the collection reappears). */
  replace(items: Record<string, any>[]): void;
  /** One watch event: ADDED, MODIFIED or DELETED. */
  event(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Record<string, any>): void;
}

export interface WatchTuning {
  /** Server-side watch timeout, randomised in [s, 2s) per watch so that watches do not all restart together. */
  watchTimeoutSeconds?: number;
  /** A watch that delivers nothing (not even a bookmark) for this long is presumed stalled and restarted. */
  stallTimeoutMs?: number;
  backoffInitialMs?: number;
  backoffMaxMs?: number;
}

export interface ReflectorOptions extends WatchTuning {
  /** For logs and metrics, e.g. "pods" or "modelroutes". */
  resource: string;
  /** Collection path, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  /** apiVersion and kind stamped on list items (the API server leaves them out). */
  apiVersion: string;
  kind: string;
  labelSelector?: string;
  fieldSelector?: string;
}

class GoneError extends Error {}

/**
 * List+watch of one collection, kept running until stop(): resumes each watch from the last resourceVersion seen
 * (events and bookmarks), relists on 410 Gone, retries failures with capped jittered backoff, and restarts watches
 * that go silent. A collection that does not exist (404: CRD not installed) counts as empty and is polled until it
 * appears.
 */
export class Reflector {
  private readonly abort = new AbortController();
  private readonly backoff: Backoff;
  private resourceVersion = '';
  private running: Promise<void> | undefined;
  private resolveSynced!: () => void;
  /** Resolves after the first successful list. */
  readonly synced: Promise<void> = new Promise((r) => (this.resolveSynced = r));
  private isSynced = false;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: ReflectorOptions,
    private readonly handlers: ReflectorHandlers,
    private readonly log: Logger,
  ) {
    this.backoff = new Backoff(opts.backoffInitialMs ?? 500, opts.backoffMaxMs ?? 30_000);
  }

  get hasSynced(): boolean {
    return this.isSynced;
  }

  start(): void {
    this.running ??= this.run();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    syncedGauge.remove({ resource: this.opts.resource });
  }

  private get selectors(): Query {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector };
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    let needList = true;
    while (!signal.aborted) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        const started = Date.now();
        const delivered = await this.watchOnce();
        watchRestartsTotal.inc({ resource: this.opts.resource, reason: 'closed' });
        // A server that ends watches at once (overload, proxy trouble) must not be hammered.
        if (!delivered && Date.now() - started < 1000) await sleep(this.backoff.next(), signal);
      } catch (err) {
        if (signal.aborted) break;
        if (err instanceof GoneError) {
          this.log.info({ resource: this.opts.resource }, 'watch expired (410 Gone), relisting');
          relistsTotal.inc({ resource: this.opts.resource });
          watchRestartsTotal.inc({ resource: this.opts.resource, reason: 'gone' });
          needList = true;
          continue;
        }
        if (err instanceof KubeApiError && err.status === 404 && needList) {
          this.collectionMissing();
        } else {
          watchRestartsTotal.inc({ resource: this.opts.resource, reason: 'error' });
          this.log.warn({ resource: this.opts.resource, err: describe(err) }, 'list/watch failed, retrying');
        }
        await sleep(this.backoff.next(), signal);
      }
    }
  }

  private async list(): Promise<void> {
    const { items, resourceVersion } = await this.client.list(this.opts.path, this.selectors, this.abort.signal);
    if (this.abort.signal.aborted) return;
    for (const item of items) {
      item.apiVersion ??= this.opts.apiVersion;
      item.kind ??= this.opts.kind;
    }
    this.resourceVersion = resourceVersion;
    this.handlers.replace(items);
    this.backoff.reset();
    this.markSynced();
  }

  private collectionMissing(): void {
    if (!this.isSynced) {
      this.log.warn(
        { resource: this.opts.resource, path: this.opts.path },
        'collection not found (CRD not installed?); treating it as empty and polling',
      );
    }
    this.handlers.replace([]);
    this.markSynced();
  }

  private markSynced(): void {
    if (this.isSynced) return;
    this.isSynced = true;
    syncedGauge.set({ resource: this.opts.resource }, 1);
    this.resolveSynced();
  }

  /** One watch from the current resourceVersion; returns whether it delivered anything. */
  private async watchOnce(): Promise<boolean> {
    const tuning = this.opts.watchTimeoutSeconds ?? 300;
    const timeoutSeconds = Math.floor(tuning * (1 + Math.random()));
    const stallMs = this.opts.stallTimeoutMs ?? (timeoutSeconds + 30) * 1000;
    const watchAbort = new AbortController();
    const onStop = (): void => watchAbort.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    let stalled = false;
    let delivered = false;
    let watchdog: NodeJS.Timeout | undefined;
    const arm = (): void => {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => {
        stalled = true;
        watchAbort.abort();
      }, stallMs);
    };
    arm();
    try {
      await this.client.watch(
        this.opts.path,
        { ...this.selectors, resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds },
        (e) => {
          arm();
          delivered = true;
          this.onEvent(e);
        },
        watchAbort.signal,
      );
    } catch (err) {
      if (err instanceof KubeApiError && err.status === 410) throw new GoneError();
      throw err;
    } finally {
      clearTimeout(watchdog);
      this.abort.signal.removeEventListener('abort', onStop);
    }
    if (stalled) {
      watchRestartsTotal.inc({ resource: this.opts.resource, reason: 'stalled' });
      this.log.warn({ resource: this.opts.resource, stallMs }, 'watch silent for too long, restarting');
    }
    if (delivered) this.backoff.reset();
    return delivered;
  }

  private onEvent(e: WatchEvent): void {
    const obj = e.object ?? {};
    if (e.type === 'ERROR') {
      if (obj.code === 410) throw new GoneError();
      throw new KubeApiError(obj.code ?? 500, obj.reason ?? '', `watch error: ${obj.message ?? 'unknown'}`);
    }
    if (e.type === 'ADDED' || e.type === 'MODIFIED' || e.type === 'DELETED') {
      obj.apiVersion ??= this.opts.apiVersion;
      obj.kind ??= this.opts.kind;
      this.handlers.event(e.type, obj);
    }
    // Advance only once the event is handled, so that a failed handler sees it again after the watch restarts.
    const rv = obj.metadata?.resourceVersion;
    if (typeof rv === 'string' && rv !== '') this.resourceVersion = rv;
  }
}

function describe(err: unknown): string {
  if (err instanceof KubeApiError) return `${err.status} ${err.reason}: ${err.message}`;
  return err instanceof Error ? err.message : String(err);
}
