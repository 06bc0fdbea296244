import { expect } from 'chai';
import { acquire, adjust, idle, initial } from '../../../src/filters/ratelimit/algorithms.js';
import type { Algorithm } from '../../../src/filters/ratelimit/config.js';

const W = 60_000;

describe('ratelimit: algorithms', () => {
  describe('token bucket', () => {
    it('starts full, refills continuously, never above the limit', () => {
      const s = initial('token-bucket', 100, 0, W);
      expect(acquire('token-bucket', s, 100, W, 100, 0)).to.include({ ok: true, remaining: 0, resetMs: W });
      const refused = acquire('token-bucket', s, 100, W, 10, 0);
      expect(refused).to.include({ ok: false, retryAfterMs: 6000 });
      expect(acquire('token-bucket', s, 100, W, 10, 5999).ok).to.equal(false);
      expect(acquire('token-bucket', s, 100, W, 10, 6000)).to.include({ ok: true, remaining: 0 });
      expect(acquire('token-bucket', s, 100, W, 0, 10 * W)).to.include({ remaining: 100, resetMs: 0 });
    });

    it('charges beyond the reservation as debt repaid by refill', () => {
      const s = initial('token-bucket', 100, 0, W);
      acquire('token-bucket', s, 100, W, 50, 0);
      adjust('token-bucket', s, 100, W, -80, 0); // used 80 more than reserved
      const r = acquire('token-bucket', s, 100, W, 10, 0);
      expect(r.ok).to.equal(false);
      expect(r.retryAfterMs).to.equal(Math.ceil((10 + 30) * (W / 100)));
      adjust('token-bucket', s, 100, W, 1000, 0); // give-backs never overfill
      expect(acquire('token-bucket', s, 100, W, 0, 0).remaining).to.equal(100);
    });
  });

  describe('sliding window', () => {
    it('weights the previous window by its overlap', () => {
      const s = initial('sliding-window', 100, 0, W);
      expect(acquire('sliding-window', s, 100, W, 80, 1000).ok).to.equal(true);
      // Half-way through the next window, 40 of the previous 80 still count.
      expect(acquire('sliding-window', s, 100, W, 61, W + W / 2).ok).to.equal(false);
      expect(acquire('sliding-window', s, 100, W, 60, W + W / 2)).to.include({ ok: true, remaining: 0 });
    });

    it('gives a retry-after at which the request really fits', () => {
      for (const [usedPrev, usedCur, cost] of [[80, 0, 50], [50, 40, 30], [0, 90, 20]] as const) {
        const s = initial('sliding-window', 100, 0, W);
        if (usedPrev) acquire('sliding-window', s, 100, W, usedPrev, 0);
        const t = W + 1000;
        if (usedCur) acquire('sliding-window', s, 100, W, usedCur, t);
        const r = acquire('sliding-window', s, 100, W, cost, t);
        expect(r.ok, `${usedPrev}/${usedCur}/${cost}`).to.equal(false);
        expect(acquire('sliding-window', [...s] as typeof s, 100, W, cost, t + r.retryAfterMs - 50).ok).to.equal(false);
        expect(acquire('sliding-window', [...s] as typeof s, 100, W, cost, t + r.retryAfterMs + 1).ok).to.equal(true);
      }
    });

    it('gives back into the current window', () => {
      const s = initial('sliding-window', 100, 0, W);
      acquire('sliding-window', s, 100, W, 100, 0);
      adjust('sliding-window', s, 100, W, 30, 0);
      expect(acquire('sliding-window', s, 100, W, 30, 0).ok).to.equal(true);
    });
  });

  for (const algo of ['token-bucket', 'sliding-window'] as Algorithm[]) {
    it(`${algo}: reports idle state once nothing is owed`, () => {
      const s = initial(algo, 10, 0, W);
      acquire(algo, s, 10, W, 5, 0);
      expect(idle(algo, s, 10, W, 1)).to.equal(false);
      expect(idle(algo, s, 10, W, 3 * W)).to.equal(true);
    });
  }
});
