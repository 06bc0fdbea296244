import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

// Simulator-to-simulator calls of a P/D pair (KV reads, bootstrap joins): one JSON POST per connection.

export interface PeerReply {
  status: number;
  /** The parsed JSON answer; undefined when it is not JSON. */
  body: unknown;
}

/** POSTs JSON and reads the JSON answer; rejects on a network error or when `signal` aborts. */
export function postJson(url: string, body: unknown, signal: AbortSignal): Promise<PeerReply> {
  const data = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { method: 'POST', agent: false, signal, headers: { 'content-type': 'application/json', 'content-length': data.length } },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(parts).toString('utf8'));
          } catch {
            parsed = undefined;
          }
          resolve({ status: res.statusCode ?? 0, body: parsed });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(data);
  });
}

/** `host:port` for a URL (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Waits the simulated time of moving `tokens` tokens of KV from the prefill to the decode engine (wall time = sim time
 * × time scale; nothing at time scale 0). Rejects when `signal` aborts.
 */
export async function kvTransferDelay(tokens: number, msPer1k: number, timeScale: number, signal: AbortSignal): Promise<void> {
  const ms = (tokens / 1000) * msPer1k * timeScale;
  if (ms > 0) await sleep(ms, undefined, { signal });
}
