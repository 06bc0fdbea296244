import { expect } from 'chai';
import { RequestExchange } from '../../../src/core/exchange.js';
import type { Reservation } from '../../../src/core/filters.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { seeded } from '../../support/builders.js';

// How a finished exchange settles its rate-limit reservation: refunded only when the request never left the router;
// otherwise charged, with the output seen so far or, when none was seen, the reserved max_tokens share.

type Settled = { kind: 'release' } | { kind: 'commit'; output: number | undefined } | undefined;

function exchange() {
  let settled: Settled;
  const reservation: Reservation = {
    commit: (output) => void (settled ??= { kind: 'commit', output }),
    release: () => void (settled ??= { kind: 'release' }),
  };
  const x = new RequestExchange({
    requestId: 'r',
    datastore: new Datastore(),
    scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(1)),
    schedulingRequest: { requestId: 'r', model: 'm', promptText: '', headers: new Map(), group: 'g' },
    reservation,
  });
  return { x, settled: () => settled };
}

const sse = (n: number) =>
  Buffer.from(Array.from({ length: n }, () => 'data: {"choices":[{"delta":{"content":"a"}}]}\n\n').join(''));

describe('exchange: charging the rate-limit reservation', () => {
  it('refunds a request that never left the router (our rejection, a decision nobody took)', () => {
    const { x, settled } = exchange();
    x.finish('cancelled');
    expect(settled()).to.deep.equal({ kind: 'release' });
  });

  it('keeps the reservation (input and max_tokens share) when cancelled after the pick, before any output', () => {
    const { x, settled } = exchange();
    x.dispatched();
    x.finish('cancelled');
    expect(settled()).to.deep.equal({ kind: 'commit', output: undefined });
  });

  it('charges the output streamed so far when the client leaves mid-stream', () => {
    const { x, settled } = exchange();
    x.dispatched();
    x.responseHeaders(200, new Map([['content-type', 'text/event-stream']]));
    x.responseBody(sse(3), false);
    x.finish('cancelled');
    expect(settled()).to.deep.equal({ kind: 'commit', output: 3 });
  });

  it('charges the reported usage of a complete answer, and nothing for a complete answer without usage', () => {
    const a = exchange();
    a.x.dispatched();
    a.x.responseHeaders(200, new Map([['content-type', 'application/json']]));
    a.x.responseBody(Buffer.from('{"choices":[],"usage":{"completion_tokens":9}}'), true);
    a.x.finish('success');
    expect(a.settled()).to.deep.equal({ kind: 'commit', output: 9 });
    const b = exchange();
    b.x.dispatched();
    b.x.responseHeaders(200, new Map([['content-type', 'application/json']]));
    b.x.responseBody(Buffer.from('{"choices":[]}'), true);
    b.x.finish('success');
    expect(b.settled()).to.deep.equal({ kind: 'commit', output: 0 });
  });

  it('charges no output for an error status, and the max_tokens share when the body was never seen', () => {
    const a = exchange();
    a.x.dispatched();
    a.x.responseHeaders(503, new Map());
    a.x.finish('error');
    expect(a.settled()).to.deep.equal({ kind: 'commit', output: 0 });
    const b = exchange();
    b.x.dispatched();
    b.x.responseHeaders(200, new Map([['content-type', 'application/json']]));
    b.x.finish('success'); // a gateway without response body phases
    expect(b.settled()).to.deep.equal({ kind: 'commit', output: undefined });
  });

  it('ignores a dispatch reported after the exchange finished', () => {
    const { x, settled } = exchange();
    x.finish('cancelled');
    x.dispatched();
    expect(settled()).to.deep.equal({ kind: 'release' });
  });
});
