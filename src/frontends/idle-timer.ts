/**
 * Fires `onIdle` when `arm` was not called again within its period: a peer that stops sending must not hold a
 * request (and the memory and reservations behind it) open forever. `arm` runs once per message, so it only notes
 * the time; the one pending timer re-checks when it fires. Unref'd, so it never keeps the process alive.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;
  private periodMs = 0;
  private lastActivity = 0;

  constructor(private readonly onIdle: (periodMs: number) => void) {}

  /** (Re)starts the countdown; a period of 0 or less disarms it. */
  arm(periodMs: number): void {
    this.lastActivity = performance.now();
    if (!(periodMs > 0)) return this.stop();
    if (this.timer !== undefined && periodMs === this.periodMs) return;
    this.stop();
    this.periodMs = periodMs;
    this.schedule(periodMs);
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => {
      const idle = performance.now() - this.lastActivity;
      if (idle < this.periodMs) return this.schedule(this.periodMs - idle);
      this.timer = undefined;
      this.onIdle(this.periodMs);
    }, ms);
    this.timer.unref();
  }
}
