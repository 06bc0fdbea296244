import { expect } from 'chai';
import { parseOutlierConfig } from '../../../src/providers/config.js';
import { OutlierDetector } from '../../../src/providers/outlier-detector.js';

describe('outlier detector', () => {
  let now = 0;
  const clock = () => now;
  const detector = (over: object = {}) =>
    new OutlierDetector(parseOutlierConfig({ consecutiveFailures: 3, baseEjectionMs: 1000, maxEjectionMs: 5000, ...over }), clock);
  beforeEach(() => (now = 1_000_000));

  it('ejects after N consecutive failures only; a success in between resets the count', () => {
    const d = detector();
    d.report('10.0.0.1:8000', true);
    d.report('10.0.0.1:8000', true);
    d.report('10.0.0.1:8000', false);
    d.report('10.0.0.1:8000', true);
    d.report('10.0.0.1:8000', true);
    expect(d.isEjected('10.0.0.1:8000')).to.equal(false);
    d.report('10.0.0.1:8000', true);
    expect(d.isEjected('10.0.0.1:8000')).to.equal(true);
    expect(d.isEjected('10.0.0.2:8000')).to.equal(false);
  });

  it('re-admits after the cool-down, doubling it for a target ejected again soon after', () => {
    const d = detector();
    const fail = (n: number) => {
      for (let i = 0; i < n; i++) d.report('p', true);
    };
    fail(3);
    expect(d.remainingMs('p')).to.equal(1000);
    // Failures while ejected (requests already in flight) neither count nor extend the ejection.
    fail(5);
    expect(d.remainingMs('p')).to.equal(1000);
    now += 1000;
    expect(d.isEjected('p')).to.equal(false);
    fail(3);
    expect(d.remainingMs('p')).to.equal(2000);
    now += 2000;
    fail(3);
    expect(d.remainingMs('p')).to.equal(4000);
    now += 4000;
    fail(3);
    expect(d.remainingMs('p'), 'capped at maxEjectionMs').to.equal(5000);
    // Healthy for longer than maxEjectionMs: the next ejection starts from the base again.
    now += 5000 + 5001;
    d.report('p', false);
    fail(3);
    expect(d.remainingMs('p')).to.equal(1000);
  });

  it('lists ejection states for the metrics gauge, re-admission by the clock alone', () => {
    const d = detector({ consecutiveFailures: 1 });
    d.report('provider:default/openai', true);
    expect([...d.ejectionStates()]).to.deep.equal([['provider:default/openai', true]]);
    now += 1000;
    expect([...d.ejectionStates()]).to.deep.equal([['provider:default/openai', false]]);
  });

  it('does nothing when disabled', () => {
    const d = detector({ enabled: false, consecutiveFailures: 1 });
    d.report('p', true);
    expect(d.isEjected('p')).to.equal(false);
  });
});
