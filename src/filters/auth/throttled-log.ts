import type { Logger } from '../../observability/logger.js';

// A dependency outage (Redis, JWKS endpoint) fails every request; logging each would flood the logs. This logs the
// first occurrence per key, then at most once per interval with the number of occurrences suppressed in between.
export class ThrottledLog {
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly intervalMs = 10_000,
  ) {}

  warn(key: string, fields: Record<string, unknown>, msg: string): void {
    const now = Date.now();
    const s = this.last.get(key);
    if (s && now - s.at < this.intervalMs) {
      s.suppressed++;
      return;
    }
    this.log.warn({ ...fields, suppressed: s?.suppressed ?? 0 }, msg);
    this.last.set(key, { at: now, suppressed: 0 });
  }

  /** Forget a key (the dependency recovered), so the next failure is logged at once. */
  reset(key: string): void {
    this.last.delete(key);
  }
}
