/**
 * Fires `onIdle` when `arm` was not called again within its period: a peer that stops sending must not hold a
 * request (and the memory and reservations behind it) open forever. Unref'd, so it never keeps the process alive.
 */
export class IdleTimer {
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly onIdle: (periodMs: number) => void) {}

  /** (Re)starts the countdown; a period of 0 or less disarms it. */
  arm(periodMs: number): void {
    this.stop();
    if (!(periodMs > 0)) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.onIdle(periodMs);
    }, periodMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
