import type { BudgetAccount } from '../body-budget.js';

export type AppendResult = 'ok' | 'too_large' | 'over_budget';

/** Accumulates a request body up to a byte limit, charging the bytes to the front doors' shared budget. */
export class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private joined: Buffer | undefined;

  constructor(
    readonly limit: number,
    private readonly account?: BudgetAccount,
  ) {}

  get size(): number {
    return this.bytes;
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  /** Adds a chunk; nothing is added unless the result is 'ok'. */
  append(chunk: Buffer): AppendResult {
    if (this.bytes + chunk.length > this.limit) return 'too_large';
    if (this.account && !this.account.take(chunk.length)) return 'over_budget';
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.joined = undefined;
    return 'ok';
  }

  /** Drops the bytes and returns them to the budget (a routed stream may live for minutes while the response streams). */
  clear(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.joined = undefined;
    this.account?.release();
  }

  toBuffer(): Buffer {
    if (this.joined === undefined) {
      this.joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    }
    return this.joined;
  }
}
