import type { Readable } from 'node:stream';

/**
 * Reads an upstream response body whole, up to `maxBytes`; undefined as soon as it is longer (the body is destroyed
 * then, so an oversized answer is never buffered).
 */
export async function readCapped(body: Readable, maxBytes: number): Promise<Buffer | undefined> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > maxBytes) {
      body.on('error', () => undefined);
      body.destroy();
      return undefined;
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total);
}
