import { expect } from 'chai';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import { pluginFactory } from '../../../src/scheduler/registry.js';
import '../../../src/scheduler/plugins/index.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { Plugin, SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const req = (loraAdapter?: string): SchedulingRequest => ({
  requestId: 'r',
  model: loraAdapter ?? 'base',
  loraAdapter,
  promptText: 'hi',
  headers: new Map(),
  group: 'g',
});
const make = (args = {}): Plugin => pluginFactory('lora-affinity')!(args);

describe('lora-affinity', () => {
  const running = endpoint('10.0.0.1:1', { runningLoras: ['sql'], maxLoras: 2 });
  const waiting = endpoint('10.0.0.2:1', { runningLoras: ['chat', 'math'], waitingLoras: ['sql'], maxLoras: 2 });
  const free = endpoint('10.0.0.3:1', { runningLoras: ['chat'], maxLoras: 2 });
  const full = endpoint('10.0.0.4:1', { runningLoras: ['chat', 'math'], maxLoras: 2 });
  const all = [running, waiting, free, full];

  it('scores running > waiting > free slot > must evict', () => {
    expect(make().score!(req('sql'), all)).to.deep.equal([100, 70, 40, 0]);
    expect(make({ waitingScore: 60, freeSlotScore: 30 }).score!(req('sql'), all)).to.deep.equal([100, 60, 30, 0]);
  });

  it('filters out endpoints whose slots are all taken by other adapters', () => {
    expect(make().filter!(req('sql'), all)).to.deep.equal([running, waiting, free]);
    // The adapter waiting there is resident even though every slot runs another adapter.
    expect(make().filter!(req('sql'), [waiting])).to.deep.equal([waiting]);
  });

  it('counts the slots taken by adapters it sent since the last scrape', () => {
    const p = make();
    const a = endpoint('10.0.1.1:1', { runningLoras: ['chat'], maxLoras: 2 });
    const b = endpoint('10.0.1.2:1', { runningLoras: ['chat'], maxLoras: 2 });
    expect(p.filter!(req('sql'), [a, b])).to.deep.equal([a, b]);
    const math = req('math');
    p.onPicked!(math, a); // a's second slot goes to math before any scrape shows it
    expect(p.filter!(req('sql'), [a, b])).to.deep.equal([b]);
    expect(p.score!(req('sql'), [a, b])).to.deep.equal([0, 40]);
    p.onPicked!(req('chat'), a); // an adapter already running there takes no extra slot
    expect(p.score!(req('sql'), [a, b])).to.deep.equal([0, 40]);
    p.onComplete!(math, a, 'success');
    expect(p.filter!(req('sql'), [a, b])).to.deep.equal([a, b]);
  });

  it('keeps every endpoint when none can load the adapter now', () => {
    expect(make().filter!(req('sql'), [full])).to.deep.equal([full]);
  });

  it('passes base-model requests through untouched', () => {
    expect(make().filter!(req(), all)).to.deep.equal(all);
    expect(new Set(make().score!(req(), all)).size).to.equal(1);
  });

  it('treats unknown slot counts and stale metrics as a free slot', () => {
    const unknown = endpoint('10.0.0.5:1', { runningLoras: ['chat', 'math'] });
    const stale = endpoint('10.0.0.6:1', { runningLoras: ['chat', 'math'], maxLoras: 2 });
    stale.state.stale = true;
    expect(make().score!(req('sql'), [unknown, stale])).to.deep.equal([40, 40]);
    expect(make().filter!(req('sql'), [unknown, stale])).to.deep.equal([unknown, stale]);
  });

  it('counts adapters it sent since the last scrape as resident, until they complete', () => {
    const p = make();
    const a = endpoint('10.0.0.7:1', { maxLoras: 1 });
    const b = endpoint('10.0.0.8:1', { maxLoras: 1 });
    const r = req('sql');
    p.onPicked!(r, a);
    expect(p.score!(req('sql'), [a, b])).to.deep.equal([70, 40]);
    p.onServed!(r, b);
    expect(p.score!(req('sql'), [a, b])).to.deep.equal([40, 70]);
    p.onComplete!(r, b, 'success');
    expect(p.score!(req('sql'), [a, b])).to.deep.equal([40, 40]);
  });

  it('gathers one adapter’s requests on one endpoint under the scheduler, until load-guard spills them', () => {
    const s = new Scheduler(
      parseSchedulerConfig({
        plugins: {
          Filter: { enabled: ['lora-affinity'] },
          Score: { enabled: [{ name: 'lora-affinity', weight: 2 }, { name: 'load-guard', weight: 1 }] },
        },
      }),
      seeded(3),
    );
    const fleet = [endpoint('10.0.2.1:1', { maxLoras: 1 }), endpoint('10.0.2.2:1', { maxLoras: 1 }), endpoint('10.0.2.3:1', { maxLoras: 1 })];
    const picks: string[] = [];
    for (let i = 0; i < 6; i++) {
      const r = req('sql');
      const ep = s.schedule(r, fleet).ranked[0]!;
      s.picked(r, ep);
      ep.state.metrics!.running++;
      picks.push(ep.address);
    }
    // Affinity is worth 2 × (70 − 40) = 60 points; each request of excess load costs 100 / 8 = 12.5: five fit.
    expect(new Set(picks.slice(0, 5)).size).to.equal(1);
    expect(picks[5]).to.not.equal(picks[0]);
  });
});
