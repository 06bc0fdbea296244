import { expect } from 'chai';
import { BodyBudget } from '../../../src/frontends/body-budget.js';
import { IdleTimer } from '../../../src/frontends/idle-timer.js';

describe('front doors: body budget and idle timer', () => {
  it('accounts take and give back per request, all or nothing per chunk, release twice harmless', () => {
    const budget = new BodyBudget(100);
    const a = budget.account();
    const b = budget.account();
    expect(a.take(60)).to.equal(true);
    expect(b.take(50)).to.equal(false); // would cross the limit: nothing taken
    expect(b.take(40)).to.equal(true);
    expect(budget.inUse).to.equal(100);
    a.release();
    a.release();
    expect(budget.inUse).to.equal(40);
    expect(b.take(60)).to.equal(true);
    b.release();
    expect(budget.inUse).to.equal(0);
    expect(() => new BodyBudget(0)).to.throw(RangeError);
  });

  it('fires once after a silent period, not while armed again in time, never when stopped or disarmed', async () => {
    const fired: number[] = [];
    const timer = new IdleTimer((ms) => fired.push(ms));
    timer.arm(300);
    for (let i = 0; i < 5; i++) {
      await new Promise((r) => setTimeout(r, 50));
      timer.arm(300);
    }
    expect(fired).to.deep.equal([]);
    await new Promise((r) => setTimeout(r, 800));
    expect(fired).to.deep.equal([300]);
    timer.arm(50);
    timer.stop();
    timer.arm(0);
    await new Promise((r) => setTimeout(r, 150));
    expect(fired).to.deep.equal([300]);
  });
});
