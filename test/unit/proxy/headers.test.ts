import { expect } from 'chai';
import { downstreamHeaders, upstreamHeaders } from '../../../src/frontends/proxy/headers.js';

const client = (o: Record<string, string>) => new Map(Object.entries(o));
const noMutation = { setHeaders: {}, removeHeaders: [] };

describe('proxy headers', () => {
  it('drops hop-by-hop headers, the ones Connection names, and client routing headers', () => {
    const out = upstreamHeaders(
      client({
        connection: 'keep-alive, X-Secret-Hop',
        'x-secret-hop': '1',
        'keep-alive': 'timeout=5',
        te: 'trailers',
        trailer: 'x-t',
        'transfer-encoding': 'chunked',
        upgrade: 'websocket',
        'proxy-authorization': 'Basic x',
        'proxy-connection': 'keep-alive',
        'x-gateway-destination-endpoint': '10.0.0.1:80',
        'x-gateway-destination-endpoint-served': '10.0.0.1:80',
        host: 'router.local',
        expect: '100-continue',
        'content-length': '999',
        authorization: 'Bearer k',
        'content-type': 'application/json',
      }),
      noMutation,
      12,
      { clientIp: '192.0.2.1', host: 'router.local' },
    );
    expect(out).to.deep.equal({
      authorization: 'Bearer k',
      'content-type': 'application/json',
      'x-forwarded-for': '192.0.2.1',
      'x-forwarded-proto': 'http',
      'x-forwarded-host': 'router.local',
      'content-length': '12',
    });
  });

  it('applies the decision: removals first, then sets (which may overwrite), case-insensitively', () => {
    const out = upstreamHeaders(
      client({ 'x-a': '1', 'x-b': '2', 'x-request-id': 'client' }),
      { setHeaders: { 'X-Request-Id': 'router', 'x-new': 'n' }, removeHeaders: ['X-B'] },
      0,
      { clientIp: undefined, host: undefined },
    );
    expect(out).to.deep.equal({ 'x-a': '1', 'x-request-id': 'router', 'x-new': 'n', 'x-forwarded-proto': 'http' });
  });

  it('cleans the response: hop-by-hop and content-length go, repeated headers stay arrays for the client', () => {
    const { client: out, map } = downstreamHeaders({
      connection: 'close, x-hop',
      'x-hop': 'v',
      'content-length': '10',
      'transfer-encoding': 'chunked',
      'proxy-authenticate': 'Basic',
      'set-cookie': ['a=1', 'b=2'],
      'content-type': 'text/event-stream',
    });
    expect(out).to.deep.equal({ 'set-cookie': ['a=1', 'b=2'], 'content-type': 'text/event-stream' });
    expect(map.get('set-cookie')).to.equal('a=1, b=2');
    expect(map.has('content-length')).to.equal(false);
  });
});
