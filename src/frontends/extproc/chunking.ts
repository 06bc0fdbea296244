// Envoy recommends streamed body replies of at most ~64 KiB; 62,000 bytes leaves room for framing.
export const MAX_STREAMED_CHUNK_BYTES = 62_000;

/** Splits a body into chunks of at most `max` bytes; an empty body yields one empty chunk. */
export function splitChunks(body: Buffer, max: number = MAX_STREAMED_CHUNK_BYTES): Buffer[] {
  if (!Number.isInteger(max) || max <= 0) throw new RangeError(`chunk size must be a positive integer, got ${max}`);
  if (body.length === 0) return [body];
  const chunks: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += max) chunks.push(body.subarray(offset, offset + max));
  return chunks;
}
