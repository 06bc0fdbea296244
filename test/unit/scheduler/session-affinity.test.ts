import { expect } from 'chai';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint } from '../../support/builders.js';

const req = (headers: Record<string, string> = {}, extra: Partial<SchedulingRequest> = {}): SchedulingRequest => ({
  requestId: 'r',
  model: 'm',
  promptText: 'hi',
  headers: new Map(Object.entries(headers)),
  group: 'g',
  ...extra,
});
const make = (args = {}): Plugin => pluginFactory('session-affinity')!(args);

describe('session-affinity', () => {
  const a = endpoint('10.0.0.1:1');
  const b = endpoint('10.0.0.2:1');
  const c = endpoint('10.0.0.3:1');

  it('sticks a session (x-session-id by default) to the endpoint picked for it', () => {
    const p = make();
    expect(p.score!(req({ 'x-session-id': 's1' }), [a, b, c])).to.deep.equal([0, 0, 0]);
    p.onPicked!(req({ 'x-session-id': 's1' }), b);
    expect(p.score!(req({ 'x-session-id': 's1' }), [a, b, c])).to.deep.equal([0, 100, 0]);
    expect(p.filter!(req({ 'x-session-id': 's1' }), [a, b, c])).to.deep.equal([b]);
    expect(p.filter!(req({ 'x-session-id': 's2' }), [a, b, c])).to.deep.equal([a, b, c]);
    // Another routing group is another session space.
    expect(p.score!(req({ 'x-session-id': 's1' }, { group: 'h' }), [a, b, c])).to.deep.equal([0, 0, 0]);
  });

  it('reads a configured header, a cookie, or the body user', () => {
    const p = make({ header: 'X-Conversation', cookie: 'sid' });
    p.onPicked!(req({ 'x-conversation': 'k' }), a);
    p.onPicked!(req({ cookie: 'theme=dark; sid=abc' }), b);
    p.onPicked!(req({}, { user: 'alice' }), c);
    expect(p.score!(req({ 'x-conversation': 'k' }), [a, b, c])).to.deep.equal([100, 0, 0]);
    expect(p.score!(req({ cookie: 'sid=abc, other=1' }), [a, b, c])).to.deep.equal([0, 100, 0]);
    expect(p.score!(req({}, { user: 'alice' }), [a, b, c])).to.deep.equal([0, 0, 100]);
    const noUser = make({ useUser: false });
    noUser.onPicked!(req({}, { user: 'alice' }), c);
    expect(noUser.score!(req({}, { user: 'alice' }), [a, b, c])).to.deep.equal([0, 0, 0]);
  });

  it('falls back when the sticky endpoint is overloaded or gone, and re-sticks to the new pick', () => {
    const p = make({ maxWaitingRequests: 2 });
    const busy = endpoint('10.0.0.4:1', { waiting: 3 });
    p.onPicked!(req({ 'x-session-id': 's' }), busy);
    expect(p.filter!(req({ 'x-session-id': 's' }), [a, busy])).to.deep.equal([a, busy]);
    expect(p.score!(req({ 'x-session-id': 's' }), [a, busy])).to.deep.equal([0, 0]);
    p.onPicked!(req({ 'x-session-id': 's' }), a);
    expect(p.score!(req({ 'x-session-id': 's' }), [a, busy])).to.deep.equal([100, 0]);
    expect(p.score!(req({ 'x-session-id': 's' }), [b, c])).to.deep.equal([0, 0]);
    p.onEndpointsRemoved!([a.address]);
    expect(p.score!(req({ 'x-session-id': 's' }), [a, b])).to.deep.equal([0, 0]);
  });

  it('follows the served endpoint, expires sessions after ttlSeconds and bounds their number', async () => {
    const p = make({ ttlSeconds: 0.05, maxSessions: 2 });
    p.onPicked!(req({ 'x-session-id': 's' }), a);
    p.onServed!(req({ 'x-session-id': 's' }), b);
    expect(p.score!(req({ 'x-session-id': 's' }), [a, b])).to.deep.equal([0, 100]);
    await new Promise((r) => setTimeout(r, 80));
    expect(p.score!(req({ 'x-session-id': 's' }), [a, b])).to.deep.equal([0, 0]);
    for (const id of ['x', 'y', 'z']) p.onPicked!(req({ 'x-session-id': id }), c);
    expect(p.score!(req({ 'x-session-id': 'x' }), [a, c])).to.deep.equal([0, 0]); // evicted (LRU)
    expect(p.score!(req({ 'x-session-id': 'z' }), [a, c])).to.deep.equal([0, 100]);
  });

  it('validates its args', () => {
    expect(() => make({ ttlSeconds: -1 })).to.throw(/ttlSeconds/);
    expect(() => make({ useUser: 'yes' })).to.throw(/useUser/);
  });
});
