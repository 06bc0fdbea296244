import { expect } from 'chai';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { ms, pod } from '../../support/builders.js';

const r = (o: unknown) => parseResource(o) as Resource;
const server = ms('llama', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'llama' } }, workloadPort: { port: 8000 } });
const pool = {
  apiVersion: 'inference.networking.k8s.io/v1',
  kind: 'InferencePool',
  metadata: { name: 'pool', namespace: 'default' },
  spec: { selector: { matchLabels: { app: 'llama' } }, targetPorts: [{ number: 8000 }, { number: 8001 }] },
};

describe('datastore', () => {
  it('selects Ready pods with an IP in the ModelServer namespace by workloadSelector', () => {
    const ds = new Datastore();
    const sink = ds.sinkFor('test');
    sink.replace(['Pod', 'ModelServer'], [
      r(server),
      r(pod('a', '10.0.0.1', { app: 'llama' })),
      r(pod('b', '10.0.0.2', { app: 'llama' }, false)),
      r(pod('c', undefined, { app: 'llama' })),
      r(pod('d', '10.0.0.4', { app: 'other' })),
      r({ ...pod('e', '10.0.0.5', { app: 'llama' }), metadata: { name: 'e', namespace: 'prod', labels: { app: 'llama' } } }),
    ]);
    expect(ds.endpointsForServer('default', 'llama').map((e) => e.address)).to.deep.equal(['10.0.0.1:8000']);
    expect(ds.endpointsForServer('default', 'llama')[0]).to.include({ engine: 'vLLM', metricsUrl: 'http://10.0.0.1:8000/metrics' });
  });

  it('skips terminating pods', () => {
    const ds = new Datastore();
    const p = pod('a', '10.0.0.1', { app: 'llama' });
    (p.metadata as Record<string, unknown>).deletionTimestamp = '2026-01-01T00:00:00Z';
    ds.sinkFor('t').replace(['Pod', 'ModelServer'], [r(server), r(p)]);
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(0);
  });

  it('makes one endpoint per InferencePool target port', () => {
    const ds = new Datastore();
    ds.sinkFor('t').replace(['Pod', 'InferencePool'], [r(pool), r(pod('a', '10.0.0.1', { app: 'llama' }))]);
    expect(ds.endpointsForPool('default', 'pool').map((e) => e.address)).to.deep.equal(['10.0.0.1:8000', '10.0.0.1:8001']);
  });

  it('in InferencePool mode makes endpoints (the scraped set) of that pool\'s pods only', () => {
    const other = { ...pool, metadata: { name: 'other', namespace: 'default' }, spec: { selector: { matchLabels: { app: 'mistral' } }, targetPorts: [{ number: 9000 }] } };
    const objects = [
      r(server),
      r(pool),
      r(other),
      r(pod('a', '10.0.0.1', { app: 'llama' })),
      r(pod('m', '10.0.0.2', { app: 'mistral' })),
      r(pod('x', '10.0.0.3', { app: 'unrelated' })),
    ];
    const everything = new Datastore();
    everything.sinkFor('test').replace(['Pod', 'ModelServer', 'InferencePool'], objects);
    expect([...everything.allEndpoints()].map((e) => e.address).sort()).to.deep.equal(['10.0.0.1:8000', '10.0.0.1:8001', '10.0.0.2:9000']);

    const ds = new Datastore({ pool: { namespace: 'default', name: 'pool' } });
    ds.sinkFor('test').replace(['Pod', 'ModelServer', 'InferencePool'], objects);
    expect([...ds.allEndpoints()].map((e) => e.address)).to.deep.equal(['10.0.0.1:8000', '10.0.0.1:8001']);
    expect(ds.endpointsForPool('default', 'other')).to.deep.equal([]);
    expect(ds.endpointsForServer('default', 'llama')).to.deep.equal([]);
  });

  it('keeps endpoint state across updates and drops endpoints of deleted pods', () => {
    const ds = new Datastore();
    const sink = ds.sinkFor('t');
    sink.upsert(r(server));
    sink.upsert(r(pod('a', '10.0.0.1', { app: 'llama' })));
    const ep = ds.endpointsForServer('default', 'llama')[0]!;
    ep.inflight = 3;
    sink.upsert(r(pod('a', '10.0.0.1', { app: 'llama', version: '2' })));
    const again = ds.endpointsForServer('default', 'llama')[0]!;
    expect(again).to.equal(ep);
    expect(again.labels.version).to.equal('2');
    sink.remove('Pod', 'default', 'a');
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(0);
    expect(ds.endpoint('10.0.0.1:8000')).to.equal(undefined);
  });

  it('keeps objects of different sources apart on replace', () => {
    const ds = new Datastore();
    ds.sinkFor('files').replace(['Pod', 'ModelServer'], [r(server)]);
    ds.sinkFor('k8s').replace(['Pod'], [r(pod('a', '10.0.0.1', { app: 'llama' }))]);
    ds.sinkFor('files').replace(['Pod', 'ModelServer'], [r(server)]);
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(1);
  });

  it('orders routes oldest first and notifies listeners', () => {
    const ds = new Datastore();
    let changes = 0;
    ds.onChange(() => changes++);
    const route = (name: string, ts: string) =>
      r({
        apiVersion: 'networking.serving.volcano.sh/v1alpha1',
        kind: 'ModelRoute',
        metadata: { name, creationTimestamp: ts },
        spec: { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 'x' }] }] },
      });
    ds.sinkFor('t').replace(['ModelRoute'], [route('new', '2026-05-01T00:00:00Z'), route('old', '2025-05-01T00:00:00Z')]);
    expect(ds.routes().map((x) => x.metadata.name)).to.deep.equal(['old', 'new']);
    expect(changes).to.equal(1);
  });
});
