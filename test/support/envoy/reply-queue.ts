import type { ProcessingResponse } from '../../../src/frontends/extproc/wire.js';

export interface StreamStatus {
  code: number;
  details: string;
}

export type Incoming =
  | { kind: 'message'; message: ProcessingResponse }
  | { kind: 'end'; status: StreamStatus }
  | { kind: 'timeout' };

/** Replies from the processor, consumed one at a time with a per-wait timeout. */
export class ReplyQueue {
  private readonly items: ProcessingResponse[] = [];
  private status: StreamStatus | undefined;
  private wake: (() => void) | undefined;

  push(message: ProcessingResponse): void {
    this.items.push(message);
    this.wake?.();
  }

  end(status: StreamStatus): void {
    this.status ??= status;
    this.wake?.();
  }

  get endStatus(): StreamStatus | undefined {
    return this.status;
  }

  async next(timeoutMs: number): Promise<Incoming> {
    for (;;) {
      const message = this.items.shift();
      if (message) return { kind: 'message', message };
      if (this.status) return { kind: 'end', status: this.status };
      const woken = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), timeoutMs);
        this.wake = () => {
          clearTimeout(timer);
          resolve(true);
        };
      });
      this.wake = undefined;
      if (!woken) return { kind: 'timeout' };
    }
  }

  /** Waits for the stream's final status (or gives up after `timeoutMs`). */
  async ended(timeoutMs: number): Promise<StreamStatus | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (!this.status && Date.now() < deadline) {
      const next = await this.next(deadline - Date.now());
      if (next.kind !== 'message') break;
    }
    return this.status;
  }
}
