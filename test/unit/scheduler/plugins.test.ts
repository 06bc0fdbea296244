import { expect } from 'chai';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint } from '../../support/builders.js';

const req: SchedulingRequest = { requestId: 'r', model: 'm', promptText: '', headers: new Map(), group: 'g' };
const make = (name: string, args = {}): Plugin => pluginFactory(name)!(args);

describe('scheduler plugins', () => {
  describe('least-request', () => {
    it('scores fewer running+waiting higher, counting picks the scrape cannot show yet', () => {
      const p = make('least-request');
      const a = endpoint('10.0.0.1:1', { running: 4, waiting: 0 });
      const b = endpoint('10.0.0.2:1', { running: 2, waiting: 0 }, { picksSinceScrape: 6 });
      const c = endpoint('10.0.0.3:1', { running: 0, waiting: 1 });
      expect(p.score!(req, [a, b, c])).to.deep.equal([(100 * 4) / 7, 0, 100]);
    });

    it('uses the router in-flight count when metrics are stale', () => {
      const p = make('least-request');
      const a = endpoint('10.0.0.1:1', { running: 0 }, { inflight: 5 });
      a.state.stale = true;
      const b = endpoint('10.0.0.2:1', { running: 3 });
      expect(p.score!(req, [a, b])).to.deep.equal([0, 100]);
    });

    it('filters out endpoints over maxWaitingRequests, keeping the least queued when all are over', () => {
      const p = make('least-request', { maxWaitingRequests: 2 });
      const a = endpoint('10.0.0.1:1', { waiting: 3 });
      const b = endpoint('10.0.0.2:1', { waiting: 2 });
      expect(p.filter!(req, [a, b])).to.deep.equal([b]);
      const c = endpoint('10.0.0.3:1', { waiting: 9 });
      expect(p.filter!(req, [a, c])).to.deep.equal([a]);
    });

    it('rejects a negative maxWaitingRequests', () => {
      expect(() => make('least-request', { maxWaitingRequests: -1 })).to.throw(/maxWaitingRequests/);
    });
  });

  describe('gpu-usage', () => {
    it('scores free KV cache; stale metrics are neutral', () => {
      const p = make('gpu-usage');
      const a = endpoint('10.0.0.1:1', { kvCacheUsage: 0.25 });
      const b = endpoint('10.0.0.2:1', { kvCacheUsage: 0.9 });
      b.state.stale = true;
      const c = endpoint('10.0.0.3:1', { kvCacheUsage: 1.7 });
      expect(p.score!(req, [a, b, c])).to.deep.equal([75, 50, 0]);
    });
  });

  describe('least-latency', () => {
    it('mixes normalised TTFT and TPOT by TTFTTPOTWeightFactor', () => {
      const a = endpoint('10.0.0.1:1', { ttftSeconds: 0.1, tpotSeconds: 0.05 });
      const b = endpoint('10.0.0.2:1', { ttftSeconds: 0.3, tpotSeconds: 0.01 });
      const round = (xs: number[]) => xs.map((x) => Math.round(x * 1e9) / 1e9);
      expect(round(make('least-latency', { TTFTTPOTWeightFactor: 1 }).score!(req, [a, b]))).to.deep.equal([100, 0]);
      expect(round(make('least-latency', { TTFTTPOTWeightFactor: 0 }).score!(req, [a, b]))).to.deep.equal([0, 100]);
      expect(round(make('least-latency').score!(req, [a, b]))).to.deep.equal([50, 50]);
    });

    it('scores endpoints without samples neutrally', () => {
      const a = endpoint('10.0.0.1:1', { ttftSeconds: 0.1, tpotSeconds: 0.01 });
      const b = endpoint('10.0.0.2:1', {});
      const c = endpoint('10.0.0.3:1', { ttftSeconds: 0.5, tpotSeconds: 0.05 });
      expect(make('least-latency').score!(req, [a, b, c])).to.deep.equal([100, 50, 0]);
    });

    it('validates its factor', () => {
      expect(() => make('least-latency', { TTFTTPOTWeightFactor: 2 })).to.throw(/TTFTTPOTWeightFactor/);
    });
  });

  describe('random', () => {
    it('returns scores in 0..100 that vary', () => {
      const eps = Array.from({ length: 50 }, (_, i) => endpoint(`10.0.0.${i}:1`));
      const scores = make('random').score!(req, eps);
      expect(scores.every((s) => s >= 0 && s <= 100)).to.equal(true);
      expect(new Set(scores).size).to.be.greaterThan(40);
    });
  });
});
