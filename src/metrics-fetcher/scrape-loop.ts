// The scrape loop of one endpoint: fixed-rate, never overlapping, each request bounded by a timeout. It writes the
// outcome into the endpoint's MetricsState in place and never rejects.
import type { Dispatcher } from 'undici';
import type { Endpoint, EngineMetrics } from '../datastore/endpoint.js';
import type { EngineAdapter, Scrape } from '../engines/index.js';
import { logger } from '../observability/logger.js';
import { scrapeErrorsTotal } from '../observability/metrics.js';
import { fetchMetricsText } from './fetch-text.js';
import { familyFilter, parsePrometheusText } from './prom-parser.js';

export interface ScrapeLoopContext {
  intervalMs: number;
  timeoutMs: number;
  staleAfterMs: number;
  maxBodyBytes: number;
  dispatcher: () => Dispatcher;
  adapterFor: (endpoint: Endpoint) => EngineAdapter;
  /** Called after the endpoint's state changed; must not throw (the fetcher wraps the user's callback). */
  notify: (endpoint: Endpoint) => void;
}

export class ScrapeLoop {
  private engine: string;
  private metricsUrl: string;
  private adapter: EngineAdapter;
  private keepFamily: (name: string) => boolean;
  private previous: Scrape | undefined;
  private inFlight: Promise<void> | undefined;
  private abort: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private scheduled = false;
  private stopped = false;
  private failing = false;

  constructor(
    private endpoint: Endpoint,
    private readonly ctx: ScrapeLoopContext,
  ) {
    this.engine = endpoint.engine;
    this.metricsUrl = endpoint.metricsUrl;
    this.adapter = ctx.adapterFor(endpoint);
    this.keepFamily = familyFilter(this.adapter.familyNames);
  }

  get currentEndpoint(): Endpoint {
    return this.endpoint;
  }

  /**
   * Called on every reconcile: follows a replaced Endpoint object for the same address, and an engine or metrics URL
   * changed in place. A new engine or URL restarts the delta history.
   */
  sync(endpoint: Endpoint): void {
    this.endpoint = endpoint;
    if (endpoint.engine === this.engine && endpoint.metricsUrl === this.metricsUrl) return;
    this.engine = endpoint.engine;
    this.metricsUrl = endpoint.metricsUrl;
    this.adapter = this.ctx.adapterFor(endpoint);
    this.keepFamily = familyFilter(this.adapter.familyNames);
    this.previous = undefined;
  }

  /** Starts the periodic loop after `delayMs` (the caller jitters it). Idempotent. */
  start(delayMs: number): void {
    if (this.scheduled || this.stopped) return;
    this.scheduled = true;
    this.schedule(delayMs);
  }

  /** Stops the loop and aborts a scrape in progress; its result, if any, is discarded. */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.abort?.abort();
  }

  /** Scrapes now, or joins the scrape already in progress so that scrapes never overlap. */
  scrapeOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    this.inFlight ??= this.scrape().finally(() => {
      this.inFlight = undefined;
    });
    return this.inFlight;
  }

  /** Marks the state stale once the last success is older than the bound; true when that changed the state. */
  markStaleIfOld(now: number): boolean {
    const state = this.endpoint.state;
    if (state.stale) return false;
    if (state.metrics !== undefined && now - state.updatedAt <= this.ctx.staleAfterMs) return false;
    state.stale = true;
    return true;
  }

  private schedule(delayMs: number): void {
    this.timer = setTimeout(() => void this.tick(), delayMs);
    this.timer.unref();
  }

  private async tick(): Promise<void> {
    const startedAt = Date.now();
    await this.scrapeOnce();
    if (!this.stopped) this.schedule(Math.max(0, this.ctx.intervalMs - (Date.now() - startedAt)));
  }

  private async scrape(): Promise<void> {
    const adapter = this.adapter;
    const url = this.metricsUrl;
    const controller = new AbortController();
    this.abort = controller;
    let timedOut = false;
    const timeout = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, this.ctx.timeoutMs);
    try {
      const text = await fetchMetricsText(url, {
        dispatcher: this.ctx.dispatcher(),
        signal: controller.signal,
        maxBytes: this.ctx.maxBodyBytes,
      });
      if (this.stopped || adapter !== this.adapter) return;
      const atMs = Date.now();
      const parsed = parsePrometheusText(text, { keepFamily: this.keepFamily, skipBuckets: true });
      const current: Scrape = { families: parsed.families, atMs };
      const metrics = adapter.toMetrics(current, this.previous);
      if (!metrics) {
        const malformed = parsed.malformedLines > 0 ? ` (${parsed.malformedLines} malformed lines)` : '';
        this.fail(`no ${adapter.engine} metrics in the response${malformed}`);
        return;
      }
      this.previous = current;
      this.succeed(metrics, atMs);
    } catch (err) {
      if (this.stopped) return;
      this.fail(timedOut ? `timed out after ${this.ctx.timeoutMs} ms` : describe(err));
    } finally {
      clearTimeout(timeout);
      if (this.abort === controller) this.abort = undefined;
    }
  }

  private succeed(metrics: EngineMetrics, atMs: number): void {
    const state = this.endpoint.state;
    state.metrics = metrics;
    state.updatedAt = atMs;
    state.stale = false;
    state.lastError = undefined;
    if (this.failing) {
      this.failing = false;
      logger.info({ endpoint: this.endpoint.address }, 'metrics scrape recovered');
    }
    this.ctx.notify(this.endpoint);
  }

  private fail(message: string): void {
    const state = this.endpoint.state;
    state.lastError = message;
    scrapeErrorsTotal.inc({ endpoint: this.endpoint.address });
    this.markStaleIfOld(Date.now());
    if (!this.failing) {
      this.failing = true; // log the transition only: a dead pod would otherwise log every interval
      logger.warn(
        { endpoint: this.endpoint.address, engine: this.adapter.engine, error: message },
        'metrics scrape failed',
      );
    }
    this.ctx.notify(this.endpoint);
  }
}

function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
