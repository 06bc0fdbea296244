import { Gauge } from 'prom-client';
import { registry } from '../observability/metrics.js';

// One ceiling on request-body bytes held in memory by all requests still being read, over both front doors.
// maxBodyBytes bounds one request; without this, N slow requests hold N × maxBodyBytes.

const bufferedBytes = new Gauge({
  name: 'kthena_router_buffered_request_bytes',
  help: 'Request-body bytes held in memory by requests being read or routed (ext_proc streams and the proxy).',
  registers: [registry],
});

export class BodyBudget {
  private used = 0;

  constructor(readonly limit: number) {
    if (!Number.isFinite(limit) || limit <= 0) throw new RangeError(`body budget must be positive, got ${limit}`);
  }

  get inUse(): number {
    return this.used;
  }

  /** Takes `bytes` from the budget; false (and nothing taken) when that would cross the limit. */
  take(bytes: number): boolean {
    if (this.used + bytes > this.limit) return false;
    this.used += bytes;
    bufferedBytes.inc(bytes);
    return true;
  }

  give(bytes: number): void {
    const n = Math.min(bytes, this.used);
    this.used -= n;
    bufferedBytes.dec(n);
  }

  /** A running account against this budget, released at once with `release`. */
  account(): BudgetAccount {
    return new BudgetAccount(this);
  }
}

/** The bytes one request holds; `release` gives them all back and is safe to call twice. */
export class BudgetAccount {
  private held = 0;

  constructor(private readonly budget: BodyBudget) {}

  get bytes(): number {
    return this.held;
  }

  take(bytes: number): boolean {
    if (!this.budget.take(bytes)) return false;
    this.held += bytes;
    return true;
  }

  release(): void {
    this.budget.give(this.held);
    this.held = 0;
  }
}

/** Default budget for callers that configure none (tests, embedders): 32 maximum-size bodies. */
export function defaultBodyBudget(maxBodyBytes: number): BodyBudget {
  return new BodyBudget(maxBodyBytes * 32);
}
