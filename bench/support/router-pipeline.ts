import type { Decision, Exchange, InboundRequest, Pipeline } from '../../src/core/types.js';

// Stand-in for the real routing pipeline in bench/extproc.ts: parses the OpenAI JSON body, picks the
// least-loaded of `podCount` endpoints with a linear scan and releases the pick when the exchange ends.
// The lead replaces this with the real pipeline over a datastore of `podCount` pods.

export function createBenchPipeline(podCount: number): Pipeline {
  const endpoints = Array.from({ length: podCount }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}:8000`);
  const load = new Int32Array(podCount);
  return {
    async handle(req: InboundRequest): Promise<Decision> {
      const body = JSON.parse(req.body.toString('utf8')) as { model?: unknown };
      if (typeof body.model !== 'string') {
        return { kind: 'reject', status: 400, headers: {}, body: Buffer.from('{"error":{"message":"model is required"}}') };
      }
      let best = 0;
      for (let i = 1; i < podCount; i++) if (load[i]! < load[best]!) best = i;
      load[best]!++;
      let released = false;
      const exchange: Exchange = {
        requestId: req.headers.get('x-request-id') ?? '',
        served() {},
        responseHeaders() {},
        responseBody: (chunk) => chunk,
        finish() {
          if (released) return;
          released = true;
          load[best]!--;
        },
      };
      return {
        kind: 'route',
        endpoints: [endpoints[best]!],
        setHeaders: {},
        removeHeaders: [],
        upstream: { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 0 },
        exchange,
      };
    },
  };
}
