import { expect } from 'chai';
import type { UpstreamPolicy } from '../../../src/core/types.js';
import { isConnectError, RetryPlan } from '../../../src/frontends/proxy/retry.js';

const policy = (retryAttempts: number): UpstreamPolicy => ({ scheme: 'http', timeoutMs: 0, retryAttempts, retryIntervalMs: 10 });
const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
const reset = Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' });

describe('proxy retry plan', () => {
  it('recognises connect failures, also when wrapped in a cause', () => {
    expect(isConnectError(refused)).to.equal(true);
    expect(isConnectError({ cause: { code: 'UND_ERR_CONNECT_TIMEOUT' } })).to.equal(true);
    expect(isConnectError(reset)).to.equal(false);
    expect(isConnectError(undefined)).to.equal(false);
  });

  it('without a retry policy fails over once, only when the connection was never made', () => {
    const plan = new RetryPlan(policy(0), 3);
    expect(plan.retryAfterError(refused, 0)).to.equal(true);
    expect(plan.retryAfterError(refused, 1)).to.equal(false);
    expect(plan.retryAfterError(reset, 0)).to.equal(false);
    expect(plan.retryAfterStatus(503, 0)).to.equal(false);
  });

  it('without a retry policy and a single endpoint does not retry at all', () => {
    expect(new RetryPlan(policy(0), 1).retryAfterError(refused, 0)).to.equal(false);
  });

  it('with a retry policy retries any pre-response failure and 5xx, up to the attempts', () => {
    const plan = new RetryPlan(policy(2), 2);
    expect(plan.retryAfterError(reset, 0)).to.equal(true);
    expect(plan.retryAfterError(reset, 1)).to.equal(true);
    expect(plan.retryAfterError(reset, 2)).to.equal(false);
    expect(plan.retryAfterStatus(503, 1)).to.equal(true);
    expect(plan.retryAfterStatus(503, 2)).to.equal(false);
    expect(plan.retryAfterStatus(429, 0)).to.equal(false);
    expect([0, 1, 2].map((a) => plan.endpointIndex(a))).to.deep.equal([0, 1, 0]);
  });
});
