import type { IncomingMessage } from 'node:http';
import type { BodyBudget } from '../body-budget.js';
import { IdleTimer } from '../idle-timer.js';

// Reads a request body into memory up to a limit, refusing as soon as the limit is crossed so an oversized body is
// never buffered. The bytes are charged to the front doors' shared budget until the caller releases them (the body
// lives on through forwarding and retries); a body that stops arriving for `idleTimeoutMs` is given up.

export type BodyResult =
  | { kind: 'ok'; body: Buffer; release: () => void }
  | { kind: 'too_large' }
  | { kind: 'over_budget' }
  | { kind: 'stalled'; idleMs: number }
  | { kind: 'aborted' };

export interface ReadBodyOptions {
  maxBytes: number;
  budget: BodyBudget;
  /** No bytes for this long → 'stalled'; 0 disables. */
  idleTimeoutMs: number;
}

const EMPTY = Buffer.alloc(0);
const NOTHING_HELD = () => undefined;

export function readBody(req: IncomingMessage, opts: ReadBodyOptions): Promise<BodyResult> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > opts.maxBytes) return Promise.resolve({ kind: 'too_large' });
  if (req.readableEnded) return Promise.resolve({ kind: 'ok', body: EMPTY, release: NOTHING_HELD });
  const account = opts.budget.account();
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let total = 0;
    const idle = new IdleTimer((idleMs) => refuse({ kind: 'stalled', idleMs }));
    const done = (result: BodyResult) => {
      idle.stop();
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onAbort);
      req.off('close', onAbort);
      resolve(result);
    };
    const refuse = (result: BodyResult) => {
      parts.length = 0;
      account.release();
      req.pause();
      done(result);
    };
    const onData = (chunk: Buffer) => {
      total += chunk.length;
      if (total > opts.maxBytes) return refuse({ kind: 'too_large' });
      if (!account.take(chunk.length)) return refuse({ kind: 'over_budget' });
      parts.push(chunk);
      idle.arm(opts.idleTimeoutMs);
    };
    const onEnd = () =>
      done({ kind: 'ok', body: parts.length === 1 ? parts[0]! : Buffer.concat(parts, total), release: () => account.release() });
    const onAbort = () => refuse({ kind: 'aborted' });
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onAbort);
    // 'close' before 'end': the client went away mid-body.
    req.on('close', onAbort);
    idle.arm(opts.idleTimeoutMs);
  });
}
