import { readFileSync } from 'node:fs';
import type { Scrape } from '../../../src/engines/index.js';
import { parsePrometheusText } from '../../../src/metrics-fetcher/prom-parser.js';

export function fixture(name: string): string {
  return readFileSync(new URL(`../../support/fixtures/metrics/${name}`, import.meta.url), 'utf8');
}

export function scrapeOf(text: string, atMs = 0): Scrape {
  return { families: parsePrometheusText(text).families, atMs };
}

/** Adds `delta` to the series written exactly as `series` (name plus label block); throws if it is absent. */
export function bump(text: string, series: string, delta: number): string {
  let found = false;
  const out = text
    .split('\n')
    .map((line) => {
      if (!line.startsWith(series + ' ')) return line;
      found = true;
      return `${series} ${Number(line.slice(series.length + 1)) + delta}`;
    })
    .join('\n');
  if (!found) throw new Error(`series not in text: ${series}`);
  return out;
}

/** Drops every line (samples, HELP, TYPE) that mentions the metric name. */
export function without(text: string, metric: string): string {
  return text
    .split('\n')
    .filter((line) => !line.includes(metric))
    .join('\n');
}
