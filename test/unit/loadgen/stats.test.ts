import { expect } from 'chai';
import { arrivalTimes } from '../../../bench/loadgen/arrivals.js';
import { Rng } from '../../../bench/loadgen/random.js';
import { quantile, summarize } from '../../../bench/loadgen/stats.js';

function gaps(rate: number, burstiness: number, n: number): number[] {
  const it = arrivalTimes(rate, burstiness, new Rng(99));
  const out: number[] = [];
  let prev = 0;
  for (let i = 0; i < n; i++) {
    const t = it.next().value;
    out.push(t - prev);
    prev = t;
  }
  return out;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const cv = (xs: number[]) => {
  const m = mean(xs);
  return Math.sqrt(mean(xs.map((x) => (x - m) ** 2))) / m;
};

describe('loadgen arrivals and statistics', () => {
  it('Poisson arrivals have the mean gap 1/rate and exponential spread', () => {
    const g = gaps(50, 1, 20000);
    expect(mean(g)).to.be.closeTo(20, 0.6);
    expect(cv(g)).to.be.closeTo(1, 0.05);
    expect(Math.min(...g)).to.be.at.least(0);
  });

  it('bursty arrivals keep the mean rate but spread more', () => {
    const g = gaps(50, 0.25, 20000);
    expect(mean(g)).to.be.closeTo(20, 1.2);
    // Gamma(k): coefficient of variation 1/√k = 2.
    expect(cv(g)).to.be.closeTo(2, 0.2);
  });

  it('arrivals are reproducible for a seed', () => {
    expect(gaps(10, 1, 50)).to.deep.equal(gaps(10, 1, 50));
  });

  it('computes interpolated percentiles', () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(quantile(hundred, 0.5)).to.equal(50.5);
    expect(quantile(hundred, 0.99)).to.be.closeTo(99.01, 1e-9);
    expect(quantile([1, 2, 3, 4], 0.5)).to.equal(2.5);
    expect(quantile([7], 0.9)).to.equal(7);
    expect(Number.isNaN(quantile([], 0.5))).to.equal(true);
    const s = summarize([5, 1, 4, 2, 3]);
    expect(s).to.deep.include({ count: 5, mean: 3, min: 1, p50: 3, max: 5 });
    expect(s.p90).to.be.closeTo(4.6, 1e-9);
  });
});
