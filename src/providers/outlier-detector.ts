import type { OutlierConfig } from './config.js';
import { outlierEjections, registerEjectionSource } from './outlier-metrics.js';

/** What routing needs to know: whether a target (pod `ip:port` or `provider:<ns>/<name>`) is ejected now. */
export interface EjectionView {
  isEjected(target: string): boolean;
}

interface TargetState {
  consecutiveFailures: number;
  /** Ejections in a row, each within `maxEjectionMs` of the previous re-admission. */
  ejections: number;
  /** Epoch ms; 0 = never ejected. */
  ejectedUntil: number;
}

/** Keeps per-target state bounded: entries that carry no information are dropped, and old ones pruned past this. */
const PRUNE_ABOVE = 4096;

/**
 * Passive outlier detection: the front doors report each upstream attempt's result, and a target that fails
 * `consecutiveFailures` times in a row is ejected for `baseEjectionMs`. A target ejected again within `maxEjectionMs`
 * of its re-admission stays out twice as long as the time before (capped at `maxEjectionMs`). Re-admission is by the
 * clock: no timers, the check compares with the ejection deadline.
 */
export class OutlierDetector implements EjectionView {
  private readonly state = new Map<string, TargetState>();

  constructor(
    private readonly config: OutlierConfig,
    private readonly now: () => number = Date.now,
  ) {
    registerEjectionSource(this);
  }

  get enabled(): boolean {
    return this.config.enabled;
  }

  /** One attempt's result: failed = no response, 5xx or 429. */
  report(target: string, failed: boolean): void {
    if (!this.config.enabled) return;
    const now = this.now();
    let s = this.state.get(target);
    if (!failed) {
      if (!s) return;
      s.consecutiveFailures = 0;
      if (s.ejectedUntil === 0 || now - s.ejectedUntil > this.config.maxEjectionMs) this.state.delete(target);
      return;
    }
    if (!s) {
      if (this.state.size >= PRUNE_ABOVE) this.prune(now);
      s = { consecutiveFailures: 0, ejections: 0, ejectedUntil: 0 };
      this.state.set(target, s);
    }
    // Failures reported while ejected (requests already in flight, or the all-ejected fallback) do not extend it.
    if (now < s.ejectedUntil) return;
    s.consecutiveFailures++;
    if (s.consecutiveFailures < this.config.consecutiveFailures) return;
    const recent = s.ejectedUntil > 0 && now - s.ejectedUntil <= this.config.maxEjectionMs;
    s.ejections = recent ? s.ejections + 1 : 1;
    s.ejectedUntil = now + this.ejectionMs(s.ejections);
    s.consecutiveFailures = 0;
    outlierEjections.inc({ target });
  }

  isEjected(target: string): boolean {
    if (!this.config.enabled) return false;
    const s = this.state.get(target);
    return s !== undefined && this.now() < s.ejectedUntil;
  }

  /** Milliseconds until re-admission, 0 when not ejected. */
  remainingMs(target: string): number {
    const s = this.state.get(target);
    return s ? Math.max(0, s.ejectedUntil - this.now()) : 0;
  }

  *ejectionStates(): Iterable<[string, boolean]> {
    const now = this.now();
    for (const [target, s] of this.state) if (s.ejectedUntil > 0) yield [target, now < s.ejectedUntil];
  }

  private ejectionMs(ejections: number): number {
    return Math.min(this.config.baseEjectionMs * 2 ** (ejections - 1), this.config.maxEjectionMs);
  }

  /** Drops targets that are neither ejected nor recently re-admitted (e.g. pods long gone). */
  private prune(now: number): void {
    for (const [target, s] of this.state) {
      if (now >= s.ejectedUntil && now - s.ejectedUntil > this.config.maxEjectionMs) this.state.delete(target);
    }
  }
}
