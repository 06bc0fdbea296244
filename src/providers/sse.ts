import { StringDecoder } from 'node:string_decoder';

// Server-sent events, split across arbitrary chunk boundaries (a multi-byte character or an event may straddle two
// chunks), and written back.

export interface SseEvent {
  event?: string;
  /** The `data:` lines joined with "\n". */
  data: string;
}

export class SseParser {
  private readonly decoder = new StringDecoder('utf8');
  private rest = '';
  private event: string | undefined;
  private data: string[] = [];

  /** Complete events in this chunk; at the end of the stream, also a final event left without a blank line. */
  push(chunk: Buffer, end: boolean): SseEvent[] {
    const text = this.rest + this.decoder.write(chunk) + (end ? this.decoder.end() : '');
    const lines = text.split('\n');
    this.rest = end ? '' : lines.pop()!;
    const out: SseEvent[] = [];
    for (const raw of lines) {
      const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
      if (line === '') {
        this.dispatch(out);
        continue;
      }
      if (line.startsWith(':')) continue; // comment / keep-alive
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      let value = colon < 0 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') this.event = value;
      else if (field === 'data') this.data.push(value);
    }
    if (end) this.dispatch(out);
    return out;
  }

  private dispatch(out: SseEvent[]): void {
    if (this.data.length > 0 || this.event !== undefined) {
      out.push({ ...(this.event !== undefined && { event: this.event }), data: this.data.join('\n') });
    }
    this.event = undefined;
    this.data = [];
  }
}

/** One event; a string payload is sent as is (one `data:` line per line), anything else as JSON. */
export function sseData(payload: unknown, event?: string): string {
  const text = typeof payload === 'string' ? payload : JSON.stringify(payload);
  const head = event !== undefined ? `event: ${event}\n` : '';
  return `${head}data: ${text.split('\n').join('\ndata: ')}\n\n`;
}
