import type { Progress } from './runner.js';

export function formatProgress(p: Progress): string {
  const ms = (v: number) => (Number.isNaN(v) ? '-' : `${Math.round(v)}ms`);
  return (
    `[${p.elapsedSeconds.toFixed(1).padStart(6)}s] sent ${p.sent} · ok ${p.completed} · failed ${p.failed} · ` +
    `in flight ${p.inFlight} · ${p.requestsPerSecond.toFixed(1)} req/s · TTFT p50 ${ms(p.ttftP50Ms)} · E2E p50 ${ms(p.e2eP50Ms)}`
  );
}

/**
 * A progress display on a stream: one line rewritten in place on a terminal, one line per update otherwise (so
 * that logs stay readable).
 */
export class ProgressLine {
  private drawn = false;

  constructor(private readonly out: NodeJS.WriteStream) {}

  update(p: Progress): void {
    const text = formatProgress(p);
    if (this.out.isTTY) {
      this.out.write(`\r\x1b[2K${text.slice(0, Math.max(20, (this.out.columns ?? 120) - 1))}`);
      this.drawn = true;
    } else {
      this.out.write(`${text}\n`);
    }
  }

  /** Clears the in-place line before the report is printed. */
  clear(): void {
    if (this.drawn) this.out.write('\r\x1b[2K');
    this.drawn = false;
  }
}
