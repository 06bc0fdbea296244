// Outbound HTTP for JWKS, discovery and introspection: always bounded by a timeout, JSON only.

export class HttpError extends Error {}

const MAX_BODY_BYTES = 1024 * 1024;

export async function fetchJson(url: string, init: RequestInit, timeoutMs: number): Promise<Record<string, unknown>> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const e = err as Error;
    throw new HttpError(e.name === 'TimeoutError' ? `timed out after ${timeoutMs} ms` : (e.cause as Error)?.message ?? e.message);
  }
  const body = await res.text().catch(() => '');
  if (!res.ok) throw new HttpError(`HTTP ${res.status}`);
  if (body.length > MAX_BODY_BYTES) throw new HttpError('response too large');
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    throw new HttpError('response is not JSON');
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new HttpError('response is not a JSON object');
  return json as Record<string, unknown>;
}
