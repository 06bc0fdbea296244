// The request body with its top-level "model" replaced, written into the client's bytes instead of re-serialising
// the whole parsed body: a 100 KB prompt costs a scan (string contents are skipped with a native search for the next
// quote) rather than JSON.stringify plus a copy. The body has already been parsed as a JSON object, so the scanner
// only has to find the member, not validate; anything it does not expect makes it give up (undefined), and the
// caller re-serialises instead.

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;

export function spliceModel(raw: Buffer, model: string): Buffer | undefined {
  let pos = skipSpace(raw, 0);
  if (raw[pos] !== 0x7b /* { */) return undefined;
  pos = skipSpace(raw, pos + 1);
  if (raw[pos] === 0x7d /* } */) return undefined;
  let found: { start: number; end: number } | undefined;
  for (;;) {
    if (raw[pos] !== QUOTE) return undefined;
    const keyEnd = stringEnd(raw, pos);
    if (keyEnd < 0) return undefined;
    const isModel = keyText(raw, pos, keyEnd) === 'model';
    pos = skipSpace(raw, keyEnd);
    if (raw[pos] !== COLON) return undefined;
    const valueStart = skipSpace(raw, pos + 1);
    const valueEnd = valueEndAt(raw, valueStart);
    if (valueEnd < 0) return undefined;
    if (isModel) {
      // A duplicate key: parsers keep the last, re-serialising keeps one; not worth reproducing here.
      if (found || raw[valueStart] !== QUOTE) return undefined;
      found = { start: valueStart, end: valueEnd };
    }
    pos = skipSpace(raw, valueEnd);
    if (raw[pos] === 0x7d /* } */) break;
    if (raw[pos] !== COMMA) return undefined;
    pos = skipSpace(raw, pos + 1);
  }
  if (!found) return undefined;
  return Buffer.concat([raw.subarray(0, found.start), Buffer.from(JSON.stringify(model)), raw.subarray(found.end)]);
}

/** A member name as JSON.parse reads it (escapes are rare in keys, so they take the slow path). */
function keyText(raw: Buffer, start: number, end: number): string {
  const text = raw.toString('utf8', start + 1, end - 1);
  return text.includes('\\') ? (JSON.parse(raw.toString('utf8', start, end)) as string) : text;
}

function skipSpace(raw: Buffer, pos: number): number {
  while (pos < raw.length) {
    const c = raw[pos]!;
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    pos++;
  }
  return pos;
}

/** Index just past the string starting at `start` (a quote), or −1. */
export function stringEnd(raw: Buffer, start: number): number {
  let pos = start + 1;
  for (;;) {
    const q = raw.indexOf(QUOTE, pos);
    if (q < 0) return -1;
    let slashes = 0;
    while (raw[q - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return q + 1;
    pos = q + 1;
  }
}

/** Index just past the JSON value starting at `start`, or −1. */
function valueEndAt(raw: Buffer, start: number): number {
  const c = raw[start];
  if (c === QUOTE) return stringEnd(raw, start);
  if (c === 0x7b || c === 0x5b /* { [ */) {
    let depth = 0;
    let pos = start;
    while (pos < raw.length) {
      const b = raw[pos]!;
      if (b === QUOTE) {
        pos = stringEnd(raw, pos);
        if (pos < 0) return -1;
        continue;
      }
      if (b === 0x7b || b === 0x5b) depth++;
      else if (b === 0x7d || b === 0x5d) {
        depth--;
        if (depth === 0) return pos + 1;
      }
      pos++;
    }
    return -1;
  }
  // A number, true, false or null: up to the next delimiter.
  let pos = start;
  while (pos < raw.length) {
    const b = raw[pos]!;
    if (b === COMMA || b === 0x7d || b === 0x5d || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09) break;
    pos++;
  }
  return pos > start ? pos : -1;
}
