// Keeps one scrape loop per endpoint in step with a changing endpoint set, and flags endpoints whose metrics went
// stale even while their scrape hangs.
import { Agent, type Dispatcher } from 'undici';
import type { Endpoint } from '../datastore/endpoint.js';
import { adapterFor, type EngineAdapter } from '../engines/index.js';
import { logger } from '../observability/logger.js';
import { scrapeErrorsTotal, scrapeIntervalGauge } from '../observability/metrics.js';
import { ScrapeLoop, type ScrapeLoopContext } from './scrape-loop.js';

export interface MetricsFetcherOptions {
  /** Scrape period per endpoint; also how often the endpoint set is reconciled. Default 500. */
  intervalMs?: number;
  /** Bound on one scrape (connect + headers + body). Default 1000. */
  timeoutMs?: number;
  /** After this long without a successful scrape the endpoint is marked stale. Default 2000. */
  staleAfterMs?: number;
  /** Responses larger than this fail the scrape. Default 4 MiB. */
  maxBodyBytes?: number;
  /**
   * Scrapes per second over all endpoints at most (default unlimited). A fleet larger than intervalMs allows is
   * scraped every `endpoints / maxScrapesPerSecond` seconds instead, and staleness is judged against that period:
   * at 1,000 endpoints, every 500 ms would cost over a core in parsing and HTTP, while the router's own count of
   * its picks keeps load estimates current between scrapes.
   */
  maxScrapesPerSecond?: number;
  getEndpoints: () => Iterable<Endpoint>;
  /** Called after an endpoint's MetricsState changed (new metrics, an error, or turning stale). */
  onUpdate?: (endpoint: Endpoint) => void;
  /**
   * Chooses the adapter per endpoint; default: by `endpoint.engine` (see engines/index.ts). Consulted when an endpoint
   * appears and when its engine or metrics URL changes.
   */
  adapterFor?: (endpoint: Endpoint) => EngineAdapter;
}

export class MetricsFetcher {
  private readonly loops = new Map<string, ScrapeLoop>();
  private readonly ctx: ScrapeLoopContext;
  private readonly intervalMs: number;
  private readonly staleAfterMs: number;
  private readonly maxScrapesPerSecond: number;
  private agent: Agent | undefined;
  private ticker: NodeJS.Timeout | undefined;

  constructor(private readonly opts: MetricsFetcherOptions) {
    this.intervalMs = positive(opts.intervalMs ?? 500, 'intervalMs');
    this.staleAfterMs = positive(opts.staleAfterMs ?? 2000, 'staleAfterMs');
    this.maxScrapesPerSecond = opts.maxScrapesPerSecond === undefined ? Infinity : positive(opts.maxScrapesPerSecond, 'maxScrapesPerSecond');
    const timeoutMs = positive(opts.timeoutMs ?? 1000, 'timeoutMs');
    this.ctx = {
      intervalMs: this.intervalMs,
      timeoutMs,
      staleAfterMs: this.staleAfterMs,
      maxBodyBytes: positive(opts.maxBodyBytes ?? 4 * 1024 * 1024, 'maxBodyBytes'),
      dispatcher: () => this.dispatcher(),
      adapterFor: opts.adapterFor ?? ((e) => adapterFor(e.engine)),
      notify: (e) => this.notify(e),
    };
    scrapeIntervalGauge.set(this.intervalMs / 1000);
  }

  /** Starts scraping; each new endpoint's first scrape is jittered over one interval. */
  start(): void {
    if (this.ticker) return;
    this.ticker = setInterval(() => this.tick(), this.intervalMs);
    this.ticker.unref();
    this.tick();
  }

  /** Stops every loop, aborts scrapes in progress and closes idle connections. */
  async stop(): Promise<void> {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = undefined;
    for (const loop of this.loops.values()) loop.stop();
    this.loops.clear();
    const agent = this.agent;
    this.agent = undefined;
    await agent?.destroy().catch(() => undefined); // every scrape was aborted above: nothing to wait for
  }

  /** The scrape period in force: intervalMs, or longer when the fleet would exceed maxScrapesPerSecond. */
  get effectiveIntervalMs(): number {
    return this.ctx.intervalMs;
  }

  /** Reconciles the endpoint set and scrapes every endpoint once (joining scrapes already running). */
  async scrapeNow(): Promise<void> {
    this.reconcile();
    await Promise.all([...this.loops.values()].map((loop) => loop.scrapeOnce()));
  }

  private tick(): void {
    this.reconcile();
    const now = Date.now();
    for (const loop of this.loops.values()) {
      if (loop.markStaleIfOld(now)) this.notify(loop.currentEndpoint);
    }
  }

  private reconcile(): void {
    let endpoints: Endpoint[];
    try {
      endpoints = [...this.opts.getEndpoints()];
    } catch (err) {
      logger.error({ err }, 'metrics fetcher: listing endpoints failed; keeping the current set');
      return;
    }
    const seen = new Set<string>();
    for (const endpoint of endpoints) {
      seen.add(endpoint.address);
      let loop = this.loops.get(endpoint.address);
      if (loop) {
        loop.sync(endpoint);
      } else {
        loop = new ScrapeLoop(endpoint, this.ctx);
        this.loops.set(endpoint.address, loop);
      }
    }
    for (const [address, loop] of this.loops) {
      if (seen.has(address)) continue;
      loop.stop();
      this.loops.delete(address);
      scrapeErrorsTotal.remove({ endpoint: address }); // pods churn: don't keep a series per dead pod
    }
    this.pace();
    if (this.ticker) for (const loop of this.loops.values()) loop.start(Math.random() * this.ctx.intervalMs); // no-op when running
  }

  /** Stretches the period (and the staleness bound with it) so that the whole fleet stays within the scrape budget. */
  private pace(): void {
    const interval = Math.max(this.intervalMs, (1000 * this.loops.size) / this.maxScrapesPerSecond);
    if (interval === this.ctx.intervalMs) return;
    if (interval > this.intervalMs || this.ctx.intervalMs > this.intervalMs) {
      logger.info({ endpoints: this.loops.size, intervalMs: Math.round(interval), maxScrapesPerSecond: this.maxScrapesPerSecond }, 'metrics scrape period follows the fleet size');
    }
    this.ctx.intervalMs = interval;
    this.ctx.staleAfterMs = Math.max(this.staleAfterMs, (this.staleAfterMs / this.intervalMs) * interval);
    scrapeIntervalGauge.set(interval / 1000);
  }

  /** Keep-alive connections (undici's default 4 s idle limit stays below uvicorn's 5 s, so no reuse races). */
  private dispatcher(): Dispatcher {
    this.agent ??= new Agent({
      headersTimeout: this.ctx.timeoutMs,
      bodyTimeout: this.ctx.timeoutMs,
      connect: { timeout: this.ctx.timeoutMs },
    });
    return this.agent;
  }

  private notify(endpoint: Endpoint): void {
    if (!this.opts.onUpdate) return;
    try {
      this.opts.onUpdate(endpoint);
    } catch (err) {
      logger.error({ err, endpoint: endpoint.address }, 'metrics fetcher: onUpdate callback threw');
    }
  }
}

function positive(value: number, name: string): number {
  if (!(Number.isFinite(value) && value > 0)) throw new Error(`MetricsFetcher: ${name} must be a positive number`);
  return value;
}
