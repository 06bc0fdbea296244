import type { EngineMetrics } from '../datastore/endpoint.js';
import type { Families } from '../metrics-fetcher/prom-parser.js';

/** One parsed scrape of an engine's /metrics, stamped with the time its response arrived. */
export interface Scrape {
  families: Families;
  atMs: number;
}

/** Turns an engine's own metric names into the router's EngineMetrics. Adapters are pure and stateless. */
export interface EngineAdapter {
  /** Canonical engine name, for logs and errors. */
  readonly engine: string;
  /** Metric families the adapter reads; the fetcher parses only these. */
  readonly familyNames: readonly string[];
  /**
   * Derives metrics from the current scrape and, for interval averages and rates, the previous one.
   * Returns undefined when the scrape holds none of the engine's core gauges (wrong engine, wrong port, empty page),
   * so that a misconfigured pod is reported as an error instead of looking idle.
   */
  toMetrics(current: Scrape, previous?: Scrape): EngineMetrics | undefined;
}
