import type { Plugin } from '../types.js';

/** Score: uniform random; the baseline policy and a way to spread load blindly. */
export function randomPlugin(): Plugin {
  return {
    name: 'random',
    score(_req, eps) {
      return eps.map(() => Math.random() * 100);
    },
  };
}
