import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../src/config/config.js';
import { resolveTarget, type Target } from '../../../src/core/targets.js';
import { parseSpillOverConfig } from '../../../src/core/spill-over.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

const KTHENA = 'networking.serving.volcano.sh/v1alpha1';
const provider = (name: string) => ({
  apiVersion: KTHENA,
  kind: 'ExternalModelProvider',
  metadata: { name, namespace: 'default' },
  spec: { providerType: 'OpenAI', model: `${name}-model`, baseURL: `https://${name}.example/v1`, auth: { secretRef: { name: 'key', key: 'apiKey' } } },
});

function fleet(targets: object[]): Datastore {
  const ds = new Datastore();
  ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute', 'ExternalModelProvider', 'Secret'], [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'key' }, stringData: { apiKey: 'sk-1' } },
    provider('alpha'),
    provider('beta'),
    ms('local', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'local' } }, workloadPort: { port: 8000 } }),
    pod('a', '10.0.0.1', { app: 'local' }),
    pod('b', '10.0.0.2', { app: 'local' }),
    mr('m', { modelName: 'm', rules: [{ targetModels: targets }] }),
  ].map((o) => parseResource(o) as Resource));
  return ds;
}

/** Sets both pods' engine queues (waiting requests) and KV-cache use as last scraped. */
function load(ds: Datastore, waiting: [number, number], kv = 0.2): void {
  ds.endpointsForServer('default', 'local').forEach((ep, i) => {
    ep.state = { metrics: { running: 4, waiting: waiting[i]!, kvCacheUsage: kv, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
  });
}

const input = { model: 'm', path: '/v1/chat/completions', headers: new Map<string, string>() };
const SAT = { queueDepth: 5, kvCacheUsage: 0.9 };
const TARGETS = [{ modelServerName: 'local', weight: 50 }, { externalModelProviderName: 'beta', weight: 25 }, { externalModelProviderName: 'alpha', weight: 25 }];

describe('spill-over: provider targets take only the overflow of saturated pods', () => {
  // Every provider target of the rule reserved for overflow, flow control's thresholds.
  const spillOver = parseSpillOverConfig({ routes: { 'default/m': {} } }, SAT);

  it('never sends to the provider while a pod has room, whatever the weights', () => {
    const ds = fleet(TARGETS);
    load(ds, [5, 0]); // one pod saturated, the other not
    const random = seeded(3);
    for (let i = 0; i < 200; i++) {
      const t = resolveTarget(ds, input, undefined, random, { spillOver }) as Target;
      expect(t.group).to.equal('server:default/local');
      expect(t.spilled).to.equal(undefined);
    }
  });

  it('spills to the rule’s provider targets in order once every pod is saturated (queue or KV cache)', () => {
    const ds = fleet(TARGETS);
    load(ds, [5, 7]);
    const t = resolveTarget(ds, input, undefined, seeded(1), { spillOver }) as Target;
    expect(t).to.include({ group: 'provider:default/beta', spilled: true });
    load(ds, [0, 0], 0.95);
    expect((resolveTarget(ds, input, undefined, seeded(1), { spillOver }) as Target).group).to.equal('provider:default/beta');
    // The next overflow provider when the first was tried (the fallback after it failed), then the pods again.
    const next = resolveTarget(ds, input, undefined, seeded(1), { spillOver, exclude: new Set(['provider:default/beta']) }) as Target;
    expect(next.group).to.equal('provider:default/alpha');
    const none = resolveTarget(ds, input, undefined, seeded(1), {
      spillOver,
      exclude: new Set(['provider:default/beta', 'provider:default/alpha']),
    }) as Target;
    expect(none.group).to.equal('server:default/local');
  });

  it('named providers take the overflow, other provider targets keep their weights; per-route thresholds', () => {
    const ds = fleet(TARGETS);
    load(ds, [2, 2]);
    const named = parseSpillOverConfig({ routes: { 'default/m': { providers: ['alpha'], saturation: { queueDepth: 2 } } } }, SAT);
    const random = seeded(2);
    const groups = new Set<string>();
    for (let i = 0; i < 100; i++) {
      const t = resolveTarget(ds, input, undefined, random, { spillOver: named }) as Target;
      groups.add(t.group);
      if (t.group === 'provider:default/alpha') expect(t.spilled).to.equal(true);
    }
    // Every pod saturated at queueDepth 2: beta, a regular target, comes before the overflow; then alpha.
    expect([...groups]).to.deep.equal(['provider:default/beta']);
    const after = resolveTarget(ds, input, undefined, random, { spillOver: named, exclude: new Set(['provider:default/beta']) });
    expect(after).to.include({ group: 'provider:default/alpha', spilled: true });
    expect((resolveTarget(ds, input, undefined, seeded(1), { spillOver }) as Target).group).to.equal('server:default/local');
  });

  it('does not spill on stale or missing metrics (no evidence of saturation)', () => {
    const ds = fleet(TARGETS);
    load(ds, [9, 9]);
    for (const ep of ds.endpointsForServer('default', 'local')) ep.state.stale = true;
    expect((resolveTarget(ds, input, undefined, seeded(1), { spillOver }) as Target).group).to.equal('server:default/local');
  });

  it('routes without a policy keep weighted provider targets', () => {
    const ds = fleet(TARGETS);
    load(ds, [0, 0]);
    const random = seeded(5);
    const groups = new Set(Array.from({ length: 100 }, () => (resolveTarget(ds, input, undefined, random) as Target).group));
    expect(groups.has('provider:default/alpha')).to.equal(true);
  });

  it('parses the spillOver section strictly, saturation defaulting to flow control’s', () => {
    const c = parseConfig({ flowControl: { saturation: { queueDepth: 3 } }, spillOver: { routes: { 'ns/r': { providers: ['p'] } } } });
    expect(c.spillOver.get('ns/r')).to.deep.equal({ providers: ['p'], saturation: { queueDepth: 3, kvCacheUsage: 0.9 } });
    expect(parseConfig({}).spillOver.size).to.equal(0);
    expect(() => parseConfig({ spillOver: { routes: { r: {} } } })).to.throw(ConfigError, /namespace/);
    expect(() => parseConfig({ spillOver: { routes: { 'ns/r': { provider: 'p' } } } })).to.throw(ConfigError, /provider: unknown setting/);
    expect(() => parseConfig({ spillOver: { routes: { 'ns/r': { providers: 'p' } } } })).to.throw(ConfigError, /providers/);
    expect(() => parseConfig({ spillOver: { routes: { 'ns/r': { saturation: { queueDepth: 0 } } } } })).to.throw(ConfigError, /queueDepth/);
  });
});
