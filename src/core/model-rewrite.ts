// Engines answer with the model name they were sent; clients expect the name they asked for. Rewrites the JSON
// member `"model":"<upstream>"` (also with one space after the colon) in a response streamed in arbitrary chunks.
// Works on bytes, so a chunk boundary inside a multi-byte character or inside the member itself changes nothing: the
// tail of a chunk that could start the member is held back until the next chunk (at most the member's length − 1).
// It runs on every streamed chunk, so the common case (a member name found once, no partial tail) stays at one native
// search per chunk and a few byte comparisons.

const KEY = Buffer.from('"model":');
const SPACE = 0x20;

export class ModelNameRewriter {
  private readonly from: Buffer;
  private readonly to: Buffer;
  /** Bytes that occur in the member: a chunk ending in any other byte (an SSE event's newline) holds nothing back. */
  private readonly inMember = new Uint8Array(256);
  private carry: Buffer = Buffer.alloc(0);

  constructor(upstream: string, client: string) {
    this.from = Buffer.from(JSON.stringify(upstream));
    this.to = Buffer.from(JSON.stringify(client));
    for (const b of [...KEY, SPACE, ...this.from]) this.inMember[b] = 1;
  }

  /** The rewritten bytes that can be sent now; at `end`, everything that is left. */
  push(chunk: Buffer, end: boolean): Buffer {
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, chunk]) : chunk;
    const out: Buffer[] = [];
    let pos = 0;
    for (let at = data.indexOf(KEY, pos); at >= 0; at = data.indexOf(KEY, Math.max(at + 1, pos))) {
      const value = at + KEY.length + (data[at + KEY.length] === SPACE ? 1 : 0);
      if (!startsWith(data, value, this.from)) continue;
      out.push(data.subarray(pos, value), this.to);
      pos = value + this.from.length;
    }
    const keep = end ? 0 : this.partialTail(data, pos);
    if (out.length === 0 && keep === 0) {
      this.carry = EMPTY;
      return data;
    }
    out.push(data.subarray(pos, data.length - keep));
    this.carry = keep > 0 ? Buffer.from(data.subarray(data.length - keep)) : EMPTY;
    return Buffer.concat(out);
  }

  /** Length of the longest tail of data[from..] that could still grow into the member: held for the next chunk. */
  private partialTail(data: Buffer, from: number): number {
    if (data.length === from || !this.inMember[data[data.length - 1]!]) return 0;
    const longest = KEY.length + 1 + this.from.length;
    for (let s = Math.max(from, data.length - longest + 1); s < data.length; s++) {
      if (data[s] === KEY[0] && this.couldStart(data, s)) return data.length - s;
    }
    return 0;
  }

  /** Whether data[s..] is a proper prefix of `"model":` + optional space + the upstream name. */
  private couldStart(data: Buffer, s: number): boolean {
    let i = s;
    for (let j = 0; j < KEY.length; j++, i++) if (i >= data.length) return true; else if (data[i] !== KEY[j]) return false;
    if (i < data.length && data[i] === SPACE) i++;
    for (let j = 0; j < this.from.length; j++, i++) if (i >= data.length) return true; else if (data[i] !== this.from[j]) return false;
    return false; // the whole member is here: push() would have rewritten it
  }
}

const EMPTY = Buffer.alloc(0);

function startsWith(data: Buffer, at: number, prefix: Buffer): boolean {
  if (at + prefix.length > data.length) return false;
  for (let j = 0; j < prefix.length; j++) if (data[at + j] !== prefix[j]) return false;
  return true;
}
