import { expect } from 'chai';
import type { RouteDecision } from '../../../src/core/types.js';
import { envoyStatusCode, immediateReply } from '../../../src/frontends/extproc/responses.js';
import { routeHeaderMutation } from '../../../src/frontends/extproc/route-mutation.js';

const decision = (overrides: Partial<RouteDecision> = {}): RouteDecision => ({
  kind: 'route',
  endpoints: ['10.0.0.1:8000'],
  setHeaders: { 'x-a': '1' },
  removeHeaders: ['X-Remove-Me'],
  upstream: { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 0 },
  exchange: { requestId: 'r', served() {}, responseHeaders() {}, responseBody: (c) => c, finish() {} },
  ...overrides,
});

const sets = (m: ReturnType<typeof routeHeaderMutation>) =>
  m.set_headers!.map((o) => [o.header.key, o.header.raw_value!.toString()] as const);

describe('extproc route header mutation', () => {
  it('sets decision headers first and the destination last', () => {
    const m = routeHeaderMutation({ decision: decision(), destination: '10.0.0.1:8000,10.0.0.2:8000', clientHeaders: new Map() });
    expect(sets(m)).to.deep.equal([
      ['x-a', '1'],
      ['x-gateway-destination-endpoint', '10.0.0.1:8000,10.0.0.2:8000'],
    ]);
    expect(m.remove_headers).to.deep.equal(['x-remove-me']);
  });

  it("even a pipeline-set destination header loses to the picked one", () => {
    const d = decision({ setHeaders: { 'x-gateway-destination-endpoint': 'bogus' } });
    const m = routeHeaderMutation({ decision: d, destination: '10.0.0.1:8000', clientHeaders: new Map() });
    expect(sets(m).at(-1)).to.deep.equal(['x-gateway-destination-endpoint', '10.0.0.1:8000']);
  });

  it('removes client copies of system-owned headers other than the destination (which is overwritten)', () => {
    const clientHeaders = new Map([
      ['x-gateway-destination-endpoint', 'evil'],
      ['x-gateway-destination-endpoint-served', 'evil'],
      ['content-type', 'application/json'],
    ]);
    const m = routeHeaderMutation({ decision: decision({ removeHeaders: [] }), destination: 'd', clientHeaders });
    expect(m.remove_headers).to.deep.equal(['x-gateway-destination-endpoint-served']);
  });

  it('adds the generated request id and the new content-length when asked', () => {
    const m = routeHeaderMutation({
      decision: decision({ setHeaders: {} }),
      destination: 'd',
      clientHeaders: new Map(),
      generatedRequestId: 'gen-1',
      replacedBodyLength: 42,
    });
    expect(sets(m)).to.deep.equal([
      ['x-request-id', 'gen-1'],
      ['content-length', '42'],
      ['x-gateway-destination-endpoint', 'd'],
    ]);
  });
});

describe('extproc immediate responses', () => {
  it('keeps statuses Envoy knows and maps others to their class', () => {
    expect(envoyStatusCode(429)).to.equal(429);
    expect(envoyStatusCode(504)).to.equal(504);
    expect(envoyStatusCode(418)).to.equal(400);
    expect(envoyStatusCode(499)).to.equal(400);
    expect(envoyStatusCode(599)).to.equal(500);
    expect(envoyStatusCode(200)).to.equal(200);
    expect(envoyStatusCode(0)).to.equal(500);
  });

  it('carries status, raw_value headers, body and details', () => {
    const reply = immediateReply(503, { 'content-type': 'application/json' }, Buffer.from('{}'), 'why');
    const r = reply.immediate_response!;
    expect(r.status).to.deep.equal({ code: 503 });
    expect(r.headers!.set_headers![0]!.header.raw_value!.toString()).to.equal('application/json');
    expect(r.body!.toString()).to.equal('{}');
    expect(r.details).to.equal('why');
  });
});
