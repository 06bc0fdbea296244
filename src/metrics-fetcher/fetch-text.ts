// One HTTP GET of an engine's /metrics page with a hard size cap. Timeouts come from the caller's AbortSignal.
import { request, type Dispatcher } from 'undici';
import { readCapped } from '../http/read-capped.js';

export interface FetchTextOptions {
  dispatcher: Dispatcher;
  signal: AbortSignal;
  maxBytes: number;
}

export class ScrapeHttpError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScrapeHttpError';
  }
}

export async function fetchMetricsText(url: string, options: FetchTextOptions): Promise<string> {
  const { statusCode, headers, body } = await request(url, {
    method: 'GET',
    dispatcher: options.dispatcher,
    signal: options.signal,
    headers: { accept: 'text/plain;version=0.0.4;q=1, */*;q=0.1' },
  });
  if (statusCode < 200 || statusCode >= 300) {
    await body.dump().catch(() => undefined); // free the connection; the status is the error that matters
    throw new ScrapeHttpError(`HTTP ${statusCode}`);
  }
  const declared = Number(headers['content-length']);
  if (declared > options.maxBytes) {
    body.destroy();
    throw new ScrapeHttpError(`response of ${declared} bytes exceeds the ${options.maxBytes}-byte limit`);
  }
  const whole = await readCapped(body, options.maxBytes);
  if (!whole) throw new ScrapeHttpError(`response exceeds the ${options.maxBytes}-byte limit`);
  return whole.toString('utf8');
}
