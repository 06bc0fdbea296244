// Small HTTP helpers shared by the simulator's server tests.

export async function postJson(url: string, body: unknown, init: RequestInit = {}): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
    ...init,
  });
}

/** Reads a whole SSE body into its data payloads, checking the framing on the way. */
export async function readSse(res: Response): Promise<string[]> {
  const text = await res.text();
  if (!text.endsWith('\n\n')) throw new Error('SSE body does not end with a blank line');
  return text
    .slice(0, -2)
    .split('\n\n')
    .map((frame) => {
      if (!frame.startsWith('data: ') || frame.includes('\n')) throw new Error(`bad SSE frame: ${frame}`);
      return frame.slice('data: '.length);
    });
}

export async function until(cond: () => boolean, timeoutMs = 3000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 5));
  }
}
