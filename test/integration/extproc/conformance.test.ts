import { expect } from 'chai';
import type { ModeName } from '../../support/envoy-client.js';
import { CHAT, startFixture, type Fixture } from './support/fixture.js';

const HEADER = 'x-conformance-test-served-endpoint';

// GIE's conformance hook through the protocol client: the header reports the gateway's served-endpoint metadata
// verbatim, and says so when that metadata is missing, whatever the picker chose.
describe('ext_proc conformance served-endpoint hook', () => {
  let f: Fixture;
  before(async () => {
    f = await startFixture({ testMode: true });
  });
  after(async () => {
    await f.close();
  });

  const modes: ModeName[] = ['BUFFERED', 'FULL_DUPLEX_STREAMED'];
  for (const mode of modes) {
    describe(`response body mode ${mode}`, () => {
      it('reports the endpoint the gateway says served, not the pick', async () => {
        const t = await f.client.exchange({ mode, body: CHAT, response: { body: {}, served: '10.0.0.3:8000' } });
        expect(t.outcome, t.reason).to.equal('completed');
        expect(t.destination!.split(',')[0]).to.not.equal('10.0.0.3:8000');
        expect(t.downstreamHeaders?.get(HEADER)).to.equal('10.0.0.3:8000');
      });

      it('says "fail: missing envoy lb metadata" when no envoy.lb metadata arrives', async () => {
        const t = await f.client.exchange({ mode, body: CHAT, response: { body: {}, served: null } });
        expect(t.outcome, t.reason).to.equal('completed');
        expect(t.downstreamHeaders?.get(HEADER)).to.equal('fail: missing envoy lb metadata');
      });

      it('says "fail: missing destination endpoint served metadata" when envoy.lb lacks the served key', async () => {
        // What a gateway forwarding envoy.lb sends back when nothing wrote the served key: the picker's own pick.
        const t = await f.client.exchange({
          mode,
          body: CHAT,
          response: { body: {}, metadata: { 'envoy.lb': { 'x-gateway-destination-endpoint': '10.0.0.1:8000' } } },
        });
        expect(t.outcome, t.reason).to.equal('completed');
        expect(t.downstreamHeaders?.get(HEADER)).to.equal('fail: missing destination endpoint served metadata');
      });

      it('reads only envoy.lb: the served key in another namespace does not count', async () => {
        const t = await f.client.exchange({
          mode,
          body: CHAT,
          response: { body: {}, metadata: { 'envoy.lb.other': { 'x-gateway-destination-endpoint-served': '10.0.0.2:8000' } } },
        });
        expect(t.downstreamHeaders?.get(HEADER)).to.equal('fail: missing envoy lb metadata');
      });
    });
  }
});
