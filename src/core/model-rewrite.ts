// Engines answer with the model name they were sent; clients expect the name they asked for. Rewrites the JSON
// member `"model":"<upstream>"` (also with one space after the colon) in a response streamed in arbitrary chunks.
// Works on bytes, so a chunk boundary inside a multi-byte character or inside the member itself changes nothing: the
// tail of a chunk that could start the member is held back until the next chunk (at most the member's length − 1).

export class ModelNameRewriter {
  private readonly patterns: Array<{ from: Buffer; to: Buffer }>;
  private readonly longest: number;
  private carry: Buffer = Buffer.alloc(0);

  constructor(upstream: string, client: string) {
    const value = (name: string) => JSON.stringify(name);
    this.patterns = ['"model":', '"model": '].map((key) => ({
      from: Buffer.from(key + value(upstream)),
      to: Buffer.from(key + value(client)),
    }));
    this.longest = Math.max(...this.patterns.map((p) => p.from.length));
  }

  /** The rewritten bytes that can be sent now; at `end`, everything that is left. */
  push(chunk: Buffer, end: boolean): Buffer {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const out: Buffer[] = [];
    let pos = 0;
    for (;;) {
      const next = this.nextMatch(data, pos);
      if (!next) break;
      out.push(data.subarray(pos, next.at), next.to);
      pos = next.at + next.length;
    }
    const keep = end ? 0 : this.partialTail(data, pos);
    out.push(data.subarray(pos, data.length - keep));
    this.carry = Buffer.from(data.subarray(data.length - keep));
    return out.length === 1 ? out[0]! : Buffer.concat(out);
  }

  private nextMatch(data: Buffer, from: number): { at: number; length: number; to: Buffer } | undefined {
    let best: { at: number; length: number; to: Buffer } | undefined;
    for (const p of this.patterns) {
      const at = data.indexOf(p.from, from);
      if (at >= 0 && (!best || at < best.at)) best = { at, length: p.from.length, to: p.to };
    }
    return best;
  }

  /** Length of the longest tail of data[from..] that is a proper prefix of a pattern: it may complete next chunk. */
  private partialTail(data: Buffer, from: number): number {
    const max = Math.min(this.longest - 1, data.length - from);
    for (let k = max; k > 0; k--) {
      const start = data.length - k;
      if (this.patterns.some((p) => data.compare(p.from, 0, k, start, data.length) === 0)) return k;
    }
    return 0;
  }
}
