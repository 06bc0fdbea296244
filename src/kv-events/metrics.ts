import { Counter, Gauge } from 'prom-client';
import { registry } from '../observability/metrics.js';

// KV-event subscription metrics. The per-pod gauges are computed at scrape time from every live subscription set.

export interface PodViewSource {
  /** Per subscribed endpoint: whether its events drive scoring, and the blocks it is known to hold. */
  podViews(): Iterable<[endpoint: string, precise: boolean, blocks: number]>;
}

const sources = new Set<WeakRef<PodViewSource>>();

export function registerPodViewSource(source: PodViewSource): void {
  sources.add(new WeakRef(source));
}

function* views(): Iterable<[string, boolean, number]> {
  for (const ref of sources) {
    const s = ref.deref();
    if (s) yield* s.podViews();
    else sources.delete(ref);
  }
}

export const kvEventBatches = new Counter({
  name: 'kthena_router_kv_events_batches_total',
  help: 'KV-cache event batches applied, by endpoint (live or replayed).',
  labelNames: ['endpoint'] as const,
  registers: [registry],
});

export const kvEventReplays = new Counter({
  name: 'kthena_router_kv_events_replays_total',
  help: 'Replays requested after a sequence gap, by endpoint and result (complete, incomplete, failed).',
  labelNames: ['endpoint', 'result'] as const,
  registers: [registry],
});

export const kvEventResets = new Counter({
  name: 'kthena_router_kv_events_resets_total',
  help: "Times an endpoint's block view was cleared, by reason (publisher restarted, gap without replay, replay incomplete or failed).",
  labelNames: ['endpoint', 'reason'] as const,
  registers: [registry],
});

export const kvEventDecodeErrors = new Counter({
  name: 'kthena_router_kv_events_decode_errors_total',
  help: 'KV-cache event messages that could not be decoded, by endpoint.',
  labelNames: ['endpoint'] as const,
  registers: [registry],
});

export const kvEventPrecise = new Gauge({
  name: 'kthena_router_kv_events_precise',
  help: "1 while an endpoint's KV-cache events drive prefix scoring, 0 while it falls back to the approximate index.",
  labelNames: ['endpoint'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [endpoint, precise] of views()) this.set({ endpoint }, precise ? 1 : 0);
  },
});

export const kvEventBlocks = new Gauge({
  name: 'kthena_router_kv_events_blocks',
  help: "KV blocks an endpoint's engine holds according to its events.",
  labelNames: ['endpoint'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const [endpoint, , blocks] of views()) this.set({ endpoint }, blocks);
  },
});
