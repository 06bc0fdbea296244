import { expect } from 'chai';
import type { Endpoint } from '../../../src/datastore/endpoint.js';
import { PairPlan } from '../../../src/frontends/proxy/pair-plan.js';
import { RetryPlan } from '../../../src/frontends/proxy/retry.js';
import { pickPrefillDecode, rankPrefillDecode } from '../../../src/scheduler/pd/pick.js';
import { endpoint } from '../../support/builders.js';

const pdGroup = { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } };
const pod = (ip: string, role: string, group: string, running = 0): Endpoint =>
  endpoint(`${ip}:8000`, { running }, { labels: { role, 'pd-group': group } });
const byLoad = (eps: Endpoint[]) => [...eps].sort((a, b) => a.state.metrics!.running - b.state.metrics!.running);
const names = (pairs: { prefill: Endpoint; decode: Endpoint }[]) => pairs.map((p) => `${p.prefill.ip}>${p.decode.ip}`);

describe('prefill/decode pairs for a front door that fails over', () => {
  const eps = [
    pod('p1', 'prefill', 'a', 2),
    pod('p2', 'prefill', 'a', 1),
    pod('d1', 'decode', 'a', 0),
    pod('p3', 'prefill', 'b', 0),
    pod('d2', 'decode', 'b', 5),
    pod('d3', 'decode', 'lonely', 0),
  ];

  it('ranks each decode endpoint with each prefill endpoint of its group, best first', () => {
    expect(names(rankPrefillDecode(eps, pdGroup, byLoad))).to.deep.equal(['p2>d1', 'p1>d1', 'p3>d2']);
    const first = pickPrefillDecode(eps, pdGroup, byLoad)!;
    expect(`${first.prefill.ip}>${first.decode.ip}`).to.equal('p2>d1');
  });

  it('scores each group’s prefill endpoints once, and skips a group whose prefill endpoints are all filtered out', () => {
    const scored: string[][] = [];
    const noGroupA = (list: Endpoint[]) => {
      scored.push(list.map((e) => e.ip));
      return byLoad(list).filter((e) => e.labels['pd-group'] !== 'a' || e.labels.role === 'decode');
    };
    const extra = [...eps, pod('d4', 'decode', 'a', 1)];
    expect(names(rankPrefillDecode(extra, pdGroup, noGroupA))).to.deep.equal(['p3>d2']);
    expect(scored.filter((s) => s.includes('p1'))).to.have.length(1);
  });

  it('moves to the next pair that avoids every endpoint that failed, else simply the next one', () => {
    const plan = new PairPlan([
      { prefill: 'P1', prefillIp: '1', decode: 'D1' },
      { prefill: 'P2', prefillIp: '2', decode: 'D1' },
      { prefill: 'P1', prefillIp: '1', decode: 'D2' },
      { prefill: 'P3', prefillIp: '3', decode: 'D2' },
    ]);
    expect(plan.current.prefill).to.equal('P1');
    expect(plan.advance('P1')).to.deep.include({ prefill: 'P2', decode: 'D1' });
    expect(plan.advance('D1')).to.deep.include({ prefill: 'P3', decode: 'D2' });
    // Every pair now holds a failed endpoint: wrap around in order.
    expect(plan.advance('P3')).to.deep.include({ prefill: 'P1', decode: 'D1' });
    expect(() => new PairPlan([])).to.throw(RangeError);
  });

  it('retries a failed prefill once without a retry policy when another pair exists, as often as the policy says with one', () => {
    const none = { scheme: 'http' as const, timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 10 };
    const refused = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    const reset = Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    const badCert = Object.assign(new Error('cert'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    const two = new RetryPlan(none, 2);
    expect(two.retryAfterPrefillFailure(undefined, 0), 'a 5xx answer').to.equal(true);
    expect(two.retryAfterPrefillFailure(reset, 0), 'unlike a client request, even after a reset').to.equal(true);
    expect(two.retryAfterError(reset, 0)).to.equal(false);
    expect(two.retryAfterPrefillFailure(refused, 1)).to.equal(false);
    expect(two.retryAfterPrefillFailure(badCert, 0)).to.equal(false);
    expect(new RetryPlan(none, 1).retryAfterPrefillFailure(refused, 0)).to.equal(false);
    expect(new RetryPlan({ ...none, retryAttempts: 3 }, 1).retryAfterPrefillFailure(undefined, 2)).to.equal(true);
  });
});
