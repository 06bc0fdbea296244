import { Counter, Gauge } from 'prom-client';
import { registry } from '../observability/metrics.js';

// Outlier detection metrics. The gauge is computed at scrape time from every live detector, so a re-admission that
// happened by the clock alone (no request since) shows up without a timer.

interface EjectionSource {
  /** Targets with detection state: true while ejected. */
  ejectionStates(): Iterable<[string, boolean]>;
}

const sources = new Set<WeakRef<EjectionSource>>();

export function registerEjectionSource(source: EjectionSource): void {
  sources.add(new WeakRef(source));
}

export const outlierEjections = new Counter({
  name: 'kthena_router_outlier_ejections_total',
  help: 'Pods (ip:port) and external providers (provider:<ns>/<name>) ejected after consecutive failures.',
  labelNames: ['target'] as const,
  registers: [registry],
});

export const outlierEjected = new Gauge({
  name: 'kthena_router_outlier_ejected',
  help: '1 while a pod or external provider is ejected by outlier detection, 0 once re-admitted.',
  labelNames: ['target'] as const,
  registers: [registry],
  collect() {
    this.reset();
    for (const ref of sources) {
      const source = ref.deref();
      if (!source) {
        sources.delete(ref);
        continue;
      }
      for (const [target, ejected] of source.ejectionStates()) this.set({ target }, ejected ? 1 : 0);
    }
  },
});
