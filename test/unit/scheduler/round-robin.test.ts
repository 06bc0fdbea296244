import { expect } from 'chai';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const req = (group = 'g'): SchedulingRequest => ({ requestId: 'r', model: 'm', promptText: 'hi', headers: new Map(), group });
const fleet = () => ['10.0.9.3:8000', '10.0.9.1:8000', '10.0.9.2:8000'].map((a) => endpoint(a));

describe('round-robin plugin', () => {
  it('takes turns in address order, whatever the list order and the load', () => {
    const s = new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['round-robin'] } }, topN: 1 }), seeded(1));
    const eps = fleet();
    eps[0]!.state.metrics!.running = 50;
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const shuffled = i % 2 === 0 ? eps : [...eps].reverse();
      picks.push(s.schedule(req(), shuffled).ranked[0]!.address);
    }
    expect(picks).to.deep.equal([
      '10.0.9.1:8000', '10.0.9.2:8000', '10.0.9.3:8000',
      '10.0.9.1:8000', '10.0.9.2:8000', '10.0.9.3:8000',
    ]);
  });

  it('ranks the fallbacks in rotation order after the pick', () => {
    const s = new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['round-robin'] } }, topN: 3 }), seeded(1));
    s.schedule(req(), fleet());
    expect(s.schedule(req(), fleet()).ranked.map((e) => e.address)).to.deep.equal(['10.0.9.2:8000', '10.0.9.3:8000', '10.0.9.1:8000']);
  });

  it('keeps one cursor per routing group', () => {
    const rr = pluginFactory('round-robin')!({});
    const best = (group: string) => {
      const eps = fleet();
      const scores = rr.score!(req(group), eps);
      return eps[scores.indexOf(Math.max(...scores))]!.address;
    };
    expect([best('a'), best('a'), best('b'), best('a'), best('b')]).to.deep.equal([
      '10.0.9.1:8000', '10.0.9.2:8000', '10.0.9.1:8000', '10.0.9.3:8000', '10.0.9.2:8000',
    ]);
  });

  it('keeps rotating when the candidate set shrinks', () => {
    const rr = pluginFactory('round-robin')!({});
    const eps = fleet();
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const two = eps.slice(0, 2);
      const scores = rr.score!(req(), two);
      expect(scores).to.have.length(2);
      expect(Math.max(...scores)).to.equal(100);
      seen.add(two[scores.indexOf(100)]!.address);
    }
    expect(seen.size).to.equal(2);
    expect(rr.score!(req(), [])).to.deep.equal([]);
  });
});
