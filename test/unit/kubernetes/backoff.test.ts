import { expect } from 'chai';
import { Backoff } from '../../../src/sources/kubernetes/backoff.js';

describe('Backoff', () => {
  it('grows exponentially up to the cap, jittered within [ceiling/4, ceiling]', () => {
    const lo = new Backoff(100, 1000, () => 0);
    const hi = new Backoff(100, 1000, () => 0.999999);
    const lows = Array.from({ length: 6 }, () => lo.next());
    const highs = Array.from({ length: 6 }, () => hi.next());
    expect(lows).to.deep.equal([25, 50, 100, 200, 250, 250]);
    expect(highs).to.deep.equal([100, 200, 400, 800, 1000, 1000]);
  });

  it('spreads retries with the random source and starts over after reset', () => {
    const b = new Backoff(1000, 60_000);
    const samples = new Set(Array.from({ length: 20 }, () => { b.reset(); return b.next(); }));
    expect(samples.size).to.be.greaterThan(5);
    for (const s of samples) expect(s).to.be.within(250, 1000);
  });
});
