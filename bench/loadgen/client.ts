import type { Dispatcher } from 'undici';
import type { LoadRequest } from './generate.js';
import { ResponseMeter } from './response-meter.js';

export interface RequestResult {
  index: number;
  className: string;
  model: string;
  /** 2xx and the whole response arrived. */
  ok: boolean;
  /** HTTP status; 0 when no response came (a 2xx that broke mid-body keeps its status but is not ok). */
  status: number;
  /** Error key for reports: the HTTP status, a network error code, `timeout` or `stream_error`. */
  error?: string;
  /** Send time, ms since the run started. */
  startMs: number;
  /** Time to the first content event (streaming requests only). */
  ttftMs?: number;
  e2eMs: number;
  outputTokens: number;
  promptTokens?: number;
}

export interface Target {
  dispatcher: Dispatcher;
  origin: string;
  /** Path prefix of the base URL, e.g. `/openai`; empty for none. */
  basePath: string;
  headers: Record<string, string>;
  timeoutMs: number;
  /** Aborts every request of the run. */
  signal: AbortSignal;
  /** Monotonic ms since the run started. */
  now(): number;
}

const MAX_ERROR_BODY = 64 * 1024;

/** Sends one request and measures it. Never throws: failures become results. */
export async function sendRequest(t: Target, req: LoadRequest): Promise<RequestResult> {
  const startMs = t.now();
  const base = { index: req.index, className: req.className, model: req.model, startMs, outputTokens: 0 };
  const signal = AbortSignal.any([t.signal, AbortSignal.timeout(t.timeoutMs)]);
  let status = 0;
  try {
    const res = await t.dispatcher.request({
      origin: t.origin,
      path: t.basePath + req.path,
      method: 'POST',
      headers: { 'content-type': 'application/json', ...t.headers },
      body: JSON.stringify(req.body),
      signal,
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    status = res.statusCode;
    const contentType = String(res.headers['content-type'] ?? '');
    if (status >= 300) {
      await drain(res.body);
      return { ...base, ok: false, status, error: String(status), e2eMs: t.now() - startMs };
    }
    const meter = new ResponseMeter(contentType.includes('text/event-stream'));
    res.body.setEncoding('utf8');
    for await (const chunk of res.body) meter.push(chunk as string, t.now());
    const end = t.now();
    meter.end(end);
    return {
      ...base,
      ok: meter.streamError === undefined,
      status,
      ...(meter.streamError !== undefined ? { error: 'stream_error' } : {}),
      ...(meter.firstContentAt !== undefined ? { ttftMs: meter.firstContentAt - startMs } : {}),
      e2eMs: end - startMs,
      outputTokens: meter.outputTokens(),
      ...(meter.usage.promptTokens !== undefined ? { promptTokens: meter.usage.promptTokens } : {}),
    };
  } catch (err) {
    return { ...base, ok: false, status, error: errorKey(err, signal, t.signal), e2eMs: t.now() - startMs };
  }
}

async function drain(body: Dispatcher.ResponseData['body']): Promise<void> {
  try {
    await body.dump({ limit: MAX_ERROR_BODY });
  } catch {
    // The status is what gets reported; a broken error body adds nothing.
  }
}

function errorKey(err: unknown, signal: AbortSignal, runSignal: AbortSignal): string {
  if (signal.aborted) return runSignal.aborted ? 'cancelled' : 'timeout';
  const e = err as { code?: unknown; cause?: { code?: unknown } };
  const code = e?.code ?? e?.cause?.code;
  return typeof code === 'string' ? code : 'network_error';
}
