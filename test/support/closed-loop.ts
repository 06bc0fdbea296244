import { Agent, request } from 'undici';

export interface ClosedLoopOptions {
  url: string;
  total: number;
  concurrency: number;
  /** JSON body for request i. */
  body: (i: number) => unknown;
  /** Stop early (requests in flight finish). */
  signal?: AbortSignal;
}

export interface ClosedLoopResult {
  statuses: Record<number, number>;
  /** Transport errors (connection reset, refused, ...) by message. */
  errors: Record<string, number>;
  /** A few 4xx/5xx bodies, for the assertion message. */
  samples: string[];
  sent: number;
  durationMs: number;
}

/** `concurrency` workers over keep-alive connections send `total` requests back to back and tally the answers. */
export async function closedLoop(o: ClosedLoopOptions): Promise<ClosedLoopResult> {
  const agent = new Agent({ connections: o.concurrency, keepAliveTimeout: 30_000, pipelining: 1 });
  const result: ClosedLoopResult = { statuses: {}, errors: {}, samples: [], sent: 0, durationMs: 0 };
  const start = performance.now();
  const worker = async () => {
    while (result.sent < o.total && !o.signal?.aborted) {
      const i = result.sent++;
      try {
        const res = await request(`${o.url}/v1/chat/completions`, {
          method: 'POST',
          dispatcher: agent,
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(o.body(i)),
        });
        const text = await res.body.text();
        result.statuses[res.statusCode] = (result.statuses[res.statusCode] ?? 0) + 1;
        if (res.statusCode >= 400 && result.samples.length < 5) result.samples.push(`${res.statusCode} ${text.slice(0, 200)}`);
      } catch (err) {
        const key = (err as Error).message;
        result.errors[key] = (result.errors[key] ?? 0) + 1;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  result.durationMs = performance.now() - start;
  await agent.close();
  return result;
}

/** Requests answered 5xx or not answered at all. */
export function failedCount(r: ClosedLoopResult): number {
  const fivexx = Object.entries(r.statuses).filter(([s]) => Number(s) >= 500).reduce((n, [, c]) => n + c, 0);
  return fivexx + Object.values(r.errors).reduce((n, c) => n + c, 0);
}
