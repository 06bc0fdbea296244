import { expect } from 'chai';
import { LoraSlots } from '../../../src/sim/lora.js';

describe('sim LoRA slots', () => {
  it('limits distinct running adapters to max-loras', () => {
    const slots = new LoraSlots(new Set(['a', 'b', 'c']), 2);
    expect(slots.activate('a')).to.equal(true); // loaded
    expect(slots.activate('a')).to.equal(false); // resident
    expect(slots.activate('b')).to.equal(true);
    expect(slots.canRun('a')).to.equal(true);
    expect(slots.canRun('c')).to.equal(false);
    expect(() => slots.activate('c')).to.throw(/no LoRA slot/);
    expect(slots.activeAdapters().sort()).to.deep.equal(['a', 'b']);
  });

  it('evicts the least recently used idle adapter, never one in use, and pays a load again', () => {
    const slots = new LoraSlots(new Set(['a', 'b', 'c']), 2);
    slots.activate('a');
    slots.activate('b');
    slots.deactivate('a');
    slots.deactivate('b');
    slots.activate('b'); // b becomes most recently used and active
    expect(slots.canRun('c')).to.equal(true);
    expect(slots.activate('c')).to.equal(true);
    expect(slots.residentAdapters().sort()).to.deep.equal(['b', 'c']); // a evicted, b kept
    expect(slots.loadCount).to.equal(3);
    slots.deactivate('c');
    expect(slots.activate('a')).to.equal(true); // a was evicted: pays again; c (idle) goes
    expect(slots.residentAdapters().sort()).to.deep.equal(['a', 'b']);
    expect(slots.loadCount).to.equal(4);
  });

  it('rejects unknown adapters and unbalanced deactivation', () => {
    const slots = new LoraSlots(new Set(['a']), 1);
    expect(() => slots.activate('zzz')).to.throw(/unknown/);
    expect(() => slots.deactivate('a')).to.throw(/not active/);
  });
});
