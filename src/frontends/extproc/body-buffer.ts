/** Accumulates a request body up to a byte limit. */
export class BodyBuffer {
  private readonly chunks: Buffer[] = [];
  private bytes = 0;
  private joined: Buffer | undefined;

  constructor(readonly limit: number) {}

  get size(): number {
    return this.bytes;
  }

  get chunkCount(): number {
    return this.chunks.length;
  }

  /** Adds a chunk; false (and nothing added) when the body would exceed the limit. */
  append(chunk: Buffer): boolean {
    if (this.bytes + chunk.length > this.limit) return false;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.joined = undefined;
    return true;
  }

  /** Drops the bytes (a routed stream may live for minutes while the response streams). */
  clear(): void {
    this.chunks.length = 0;
    this.bytes = 0;
    this.joined = undefined;
  }

  toBuffer(): Buffer {
    if (this.joined === undefined) {
      this.joined = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.bytes);
    }
    return this.joined;
  }
}
