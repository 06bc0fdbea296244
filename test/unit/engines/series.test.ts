import { expect } from 'chai';
import { histogramTotals, increaseRatio, intervalMean, ratePerSecond } from '../../../src/engines/series.js';
import { parsePrometheusText } from '../../../src/metrics-fetcher/prom-parser.js';

describe('engines/series', () => {
  it('reads histogram totals without TYPE lines (untyped _sum/_count series)', () => {
    const { families } = parsePrometheusText('lat_sum{a="1"} 2\nlat_sum{a="2"} 3\nlat_count{a="1"} 4\nlat_count{a="2"} 6\n');
    expect(histogramTotals(families, ['lat'])).to.deep.equal({ sum: 5, count: 10 });
  });

  it('filters histogram series by labels', () => {
    const { families } = parsePrometheusText(
      '# TYPE d histogram\nd_sum{method="prefill"} 2\nd_count{method="prefill"} 4\nd_sum{method="decode"} 9\nd_count{method="decode"} 9\n',
    );
    expect(histogramTotals(families, ['d'], { method: 'prefill' })).to.deep.equal({ sum: 2, count: 4 });
    expect(histogramTotals(families, ['d'], { method: 'other' })).to.equal(undefined);
  });

  it('computes interval means with reset handling', () => {
    expect(intervalMean({ sum: 12, count: 14 }, { sum: 10, count: 10 })).to.equal(0.5);
    expect(intervalMean({ sum: 10, count: 10 }, { sum: 10, count: 10 })).to.equal(undefined);
    expect(intervalMean({ sum: 3, count: 2 }, { sum: 10, count: 10 })).to.equal(1.5); // restarted engine
    expect(intervalMean({ sum: 3, count: 2 }, undefined)).to.equal(undefined);
  });

  it('computes rates and ratios of counter increases', () => {
    expect(ratePerSecond(150, 100, 500)).to.equal(100);
    expect(ratePerSecond(150, 100, 0)).to.equal(undefined);
    expect(ratePerSecond(20, 100, 1000)).to.equal(20); // reset: the new value is the increase
    expect(increaseRatio([30, 10], [60, 20])).to.equal(0.5);
    expect(increaseRatio([30, 10], [20, 20])).to.equal(undefined);
  });
});
