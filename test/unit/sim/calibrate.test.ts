import { expect } from 'chai';
import { sweepPoint } from '../../../src/sim/calibrate.js';
import { resolveOptions } from '../../../src/sim/options.js';

describe('sim calibration sweep', () => {
  it('reproduces the published A100 concurrency sweep shape with the default profile', async () => {
    const options = resolveOptions();
    const shape = { promptLen: 1024, outputLen: 128, requests: 0 };
    const one = await sweepPoint(options, 1, { ...shape, requests: 3 });
    const eight = await sweepPoint(options, 8, { ...shape, requests: 24 });
    expect(one.outputTokensPerSec).to.be.within(70, 80); // published: ~75 tok/s
    expect(one.meanTtftMs).to.be.within(80, 95);
    expect(eight.outputTokensPerSec / one.outputTokensPerSec).to.be.within(4.5, 7.5); // published: ~6.6x
    expect(eight.meanTpotMs).to.be.lessThan(one.meanTpotMs * 2); // batching costs little latency up to C=8
    expect(eight.preemptions).to.equal(0);
  });

  it('follows the speed factor', async () => {
    const shape = { promptLen: 256, outputLen: 16, requests: 2 };
    const base = await sweepPoint(resolveOptions(), 1, shape);
    const h100ish = await sweepPoint(resolveOptions({ speed: 2 }), 1, shape);
    expect(h100ish.outputTokensPerSec / base.outputTokensPerSec).to.be.closeTo(2, 0.01);
  });
});
