import type { IncomingMessage } from 'node:http';

// Reads a request body into memory up to a limit, refusing as soon as the limit is crossed so an oversized body is
// never buffered.

export type BodyResult = { kind: 'ok'; body: Buffer } | { kind: 'too_large' } | { kind: 'aborted' };

const EMPTY = Buffer.alloc(0);

export function readBody(req: IncomingMessage, maxBytes: number): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > maxBytes) return Promise.resolve({ kind: 'too_large' });
  if (req.readableEnded) return Promise.resolve({ kind: 'ok', body: EMPTY });
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let total = 0;
    const done = (result: BodyResult) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > maxBytes) {
        parts.length = 0;
        req.pause();
        done({ kind: 'too_large' });
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => done({ kind: 'ok', body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, total) });
    const onAbort = () => done({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    // 'close' before 'end': the client went away mid-body.
    req.on('close', onAbort);
  });
}
