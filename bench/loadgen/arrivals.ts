import type { Rng } from './random.js';

/**
 * Send times (ms from the start) of an open-loop run at `rate` requests/s. Burstiness 1 is a Poisson process
 * (exponential gaps); otherwise gaps are Gamma(burstiness) with the same mean, as in vLLM's benchmark: below 1 the
 * requests come in bursts, above 1 more evenly.
 */
export function* arrivalTimes(rate: number, burstiness: number, rng: Rng): Generator<number, never> {
  if (!(rate > 0) || !(burstiness > 0)) throw new RangeError('rate and burstiness must be > 0');
  const meanGapMs = 1000 / rate;
  let t = 0;
  for (;;) {
    t += burstiness === 1 ? rng.exponential(meanGapMs) : rng.gamma(burstiness, meanGapMs / burstiness);
    yield t;
  }
}
