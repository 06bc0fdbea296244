import { expect } from 'chai';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';

const objective = (name: string, namespace: string, spec: Record<string, unknown>) =>
  parseResource({ apiVersion: 'inference.networking.x-k8s.io/v1alpha2', kind: 'InferenceObjective', metadata: { name, namespace }, spec }) as Resource;

describe('datastore InferenceObjectives', () => {
  it('stores objectives by namespace/name and follows updates and deletes', () => {
    const ds = new Datastore();
    const sink = ds.sinkFor('k8s');
    let changes = 0;
    ds.onChange(() => changes++);
    sink.upsert(objective('premium', 'llm', { priority: 10, poolRef: { name: 'pool' } }));
    sink.upsert(objective('premium', 'other', { priority: 99, poolRef: { name: 'pool' } }));
    expect(ds.objective('llm', 'premium')?.spec.priority).to.equal(10);
    expect(ds.objective('other', 'premium')?.spec.priority).to.equal(99);
    expect(ds.objective('default', 'premium')).to.equal(undefined);

    sink.upsert(objective('premium', 'llm', { priority: -1, poolRef: { name: 'pool' } }));
    expect(ds.objective('llm', 'premium')?.spec.priority).to.equal(-1);
    sink.remove('InferenceObjective', 'llm', 'premium');
    expect(ds.objective('llm', 'premium')).to.equal(undefined);
    expect(ds.objective('other', 'premium')?.spec.priority).to.equal(99);
    expect(changes).to.equal(4);
  });

  it('replace drops the objectives a source no longer has, and keeps other sources apart', () => {
    const ds = new Datastore();
    ds.sinkFor('files').replace(['InferenceObjective'], [objective('batch', 'llm', { priority: -1, poolRef: { name: 'pool' } })]);
    ds.sinkFor('k8s').replace(['InferenceObjective'], [objective('premium', 'llm', { priority: 5, poolRef: { name: 'pool' } })]);
    ds.sinkFor('files').replace(['InferenceObjective'], []);
    expect(ds.objective('llm', 'batch')).to.equal(undefined);
    expect(ds.objective('llm', 'premium')?.spec.priority).to.equal(5);
    expect(ds.list('InferenceObjective').map((o) => o.metadata.name)).to.deep.equal(['premium']);
  });
});
