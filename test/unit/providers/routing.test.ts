import { expect } from 'chai';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import { resolveTarget, type Target } from '../../../src/core/targets.js';
import type { Decision, InboundRequest, RouteDecision } from '../../../src/core/types.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseOutlierConfig } from '../../../src/providers/config.js';
import { OutlierDetector } from '../../../src/providers/outlier-detector.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

const KTHENA = 'networking.serving.volcano.sh/v1alpha1';
const provider = (name: string, secret = 'key') => ({
  apiVersion: KTHENA,
  kind: 'ExternalModelProvider',
  metadata: { name, namespace: 'default' },
  spec: { providerType: 'OpenAI', model: `${name}-model`, baseURL: `https://${name}.example/v1`, auth: { secretRef: { name: secret, key: 'apiKey' } } },
});

function fleet(targets: object[]): Datastore {
  const ds = new Datastore();
  ds.sinkFor('t').replace(['Pod', 'ModelServer', 'ModelRoute', 'ExternalModelProvider', 'Secret'], [
    { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'key' }, stringData: { apiKey: 'sk-1' } },
    provider('alpha'),
    provider('broken', 'absent-secret'),
    ms('local', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'local' } }, workloadPort: { port: 8000 } }),
    ms('idle', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'none' } }, workloadPort: { port: 8000 } }),
    pod('a', '10.0.0.1', { app: 'local' }),
    pod('b', '10.0.0.2', { app: 'local' }),
    mr('m', { modelName: 'm', rules: [{ targetModels: targets }] }),
  ].map((o) => parseResource(o) as Resource));
  return ds;
}

const input = { model: 'm', path: '/v1/chat/completions', headers: new Map<string, string>() };
const groupOf = (t: ReturnType<typeof resolveTarget>) => ('status' in t ? `${t.status}` : t.group);

describe('provider targets in ModelRoute rules', () => {
  it('routes a provider target, weighted against a ModelServer', () => {
    const ds = fleet([{ modelServerName: 'local', weight: 50 }, { externalModelProviderName: 'alpha', weight: 50 }]);
    const random = seeded(1);
    const counts = new Map<string, number>();
    for (let i = 0; i < 400; i++) {
      const g = groupOf(resolveTarget(ds, input, undefined, random));
      counts.set(g, (counts.get(g) ?? 0) + 1);
    }
    expect(counts.get('provider:default/alpha')).to.be.within(150, 250);
    expect(counts.get('server:default/local')).to.be.within(150, 250);
    const t = resolveTarget(ds, input, undefined, () => 0.99) as Target;
    expect(t.provider?.address).to.equal('alpha.example:443');
    expect(t.candidates).to.deep.equal([]);
  });

  it('falls through an unusable provider (missing Secret) and a server without pods; 503 names the problem', () => {
    expect(groupOf(resolveTarget(fleet([{ externalModelProviderName: 'broken' }, { modelServerName: 'local', weight: 1 }]), input, undefined, () => 0))).to.equal('server:default/local');
    const none = resolveTarget(fleet([{ modelServerName: 'idle' }, { externalModelProviderName: 'broken' }]), input, undefined, () => 0);
    expect(none).to.deep.include({ status: 503 });
    expect(resolveTarget(fleet([{ externalModelProviderName: 'broken' }]), input, undefined, () => 0)).to.have.property('message').that.contains('absent-secret');
  });

  it('treats a server whose pods are all ejected, and an ejected provider, as having no capacity, unless nothing else is left', () => {
    const ds = fleet([{ modelServerName: 'local', weight: 100 }, { externalModelProviderName: 'alpha', weight: 0 }]);
    const outlier = new OutlierDetector(parseOutlierConfig({ consecutiveFailures: 1 }));
    const resolve = () => resolveTarget(ds, input, undefined, () => 0, { ejections: outlier }) as Target;
    outlier.report('10.0.0.1:8000', true);
    expect(resolve().candidates.map((e) => e.address)).to.deep.equal(['10.0.0.2:8000']);
    outlier.report('10.0.0.2:8000', true);
    expect(resolve().group).to.equal('provider:default/alpha');
    outlier.report('provider:default/alpha', true);
    const panic = resolve();
    expect(panic.group).to.equal('server:default/local');
    expect(panic.candidates).to.have.length(2);
  });

  it('skips targets already tried (the fallback after they failed)', () => {
    const ds = fleet([{ modelServerName: 'local', weight: 100 }, { externalModelProviderName: 'alpha', weight: 0 }]);
    expect(groupOf(resolveTarget(ds, input, undefined, () => 0, { exclude: new Set(['server:default/local']) }))).to.equal('provider:default/alpha');
    expect(groupOf(resolveTarget(ds, input, undefined, () => 0, { exclude: new Set(['server:default/local', 'provider:default/alpha']) }))).to.equal('503');
  });
});

describe('pipeline fallback decisions', () => {
  const chat: InboundRequest = {
    method: 'POST',
    path: '/v1/chat/completions',
    headers: new Map([['x-request-id', 'r-1']]),
    body: Buffer.from(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hi' }] })),
    frontend: 'proxy',
  };
  const pipeline = (ds: Datastore) => new RoutingPipeline({ datastore: ds, scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(2)), maxBodyBytes: 1 << 20, random: () => 0 });
  const route = (d: Decision): RouteDecision => {
    if (d.kind !== 'route') throw new Error(`expected a route, got ${d.status}`);
    return d;
  };

  it('offers the next target of the rule, with the same request id, then nothing', async () => {
    const p = pipeline(fleet([{ modelServerName: 'local', weight: 100 }, { externalModelProviderName: 'alpha', weight: 0 }]));
    const first = route(await p.handle(chat));
    expect(first.endpoints[0]).to.match(/^10\.0\.0\./);
    first.exchange.finish('error');
    const second = route(await first.fallback!());
    expect(second.endpoints).to.deep.equal(['alpha.example:443']);
    expect(second.setHeaders).to.include({ 'x-request-id': 'r-1', ':authority': 'alpha.example', authorization: 'Bearer sk-1' });
    expect(JSON.parse(second.body!.toString()).model).to.equal('alpha-model');
    expect(second.fallback).to.equal(undefined);
    second.exchange.finish('cancelled');
  });

  it('offers no fallback for a single-target rule', async () => {
    const d = route(await pipeline(fleet([{ modelServerName: 'local' }])).handle(chat));
    expect(d.fallback).to.equal(undefined);
    d.exchange.finish('cancelled');
  });
});
