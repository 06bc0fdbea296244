import { until } from './router-process.js';

// Reads a router process's Prometheus text from its metrics port, for assertions on counters and leak gauges.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export async function scrape(metricsPort: number): Promise<Sample[]> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k!] = v!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Sum of the samples of `name` whose labels include `labels`. */
export function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return samples
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .reduce((a, s) => a + s.value, 0);
}

/**
 * Waits until nothing is held any more: no open ext_proc stream, no in-flight count on any endpoint, no unsettled
 * rate-limit reservation. Throws with the last figures when that does not happen in time.
 */
export async function waitIdle(metricsPort: number, timeoutMs = 10_000): Promise<void> {
  let last = '';
  try {
    await until(
      async () => {
        const s = await scrape(metricsPort);
        const held = {
          streams: total(s, 'kthena_router_extproc_streams'),
          inflight: total(s, 'kthena_router_inflight_requests'),
          reservations: total(s, 'kthena_router_ratelimit_reservations_open'),
        };
        last = JSON.stringify(held);
        return Object.values(held).every((v) => v === 0);
      },
      timeoutMs,
      'router idle',
    );
  } catch {
    throw new Error(`router still holds resources after ${timeoutMs} ms: ${last}`);
  }
}
