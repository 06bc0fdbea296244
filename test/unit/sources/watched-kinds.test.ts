import { expect } from 'chai';
import { poolPodCollection, watchedCollections } from '../../../src/sources/kubernetes/watched-kinds.js';

describe('kubernetes watched collections', () => {
  it('follow InferenceObjectives of the Gateway API Inference Extension, in the watched namespace or all of them', () => {
    const one = watchedCollections({}, 'llm').find((c) => c.kind === 'InferenceObjective');
    expect(one).to.deep.include({
      apiVersion: 'inference.networking.x-k8s.io/v1alpha2',
      path: '/apis/inference.networking.x-k8s.io/v1alpha2/namespaces/llm/inferenceobjectives',
    });
    const all = watchedCollections({ allNamespaces: true }, undefined).filter((c) => c.kind === 'InferenceObjective');
    expect(all.map((c) => c.path)).to.deep.equal(['/apis/inference.networking.x-k8s.io/v1alpha2/inferenceobjectives']);
  });

  it('in InferencePool mode watches no Pods up front: the pool\'s Pods follow its selector', () => {
    const pool = { namespace: 'llm', name: 'pool' };
    expect(watchedCollections({ pool }, 'llm').filter((c) => c.kind === 'Pod')).to.deep.equal([]);
    const explicit = watchedCollections({ pool, podSelector: 'app=x' }, 'llm').filter((c) => c.kind === 'Pod');
    expect(explicit.map((c) => c.labelSelector), 'an explicit --pod-selector wins').to.deep.equal(['app=x']);
    const pods = poolPodCollection('llm', { tier: 'gold', app: 'llama' });
    expect(pods).to.deep.include({ kind: 'Pod', path: '/api/v1/namespaces/llm/pods', labelSelector: 'app=llama,tier=gold' });
    expect(pods.resource).not.to.equal(poolPodCollection('llm', { app: 'llama' }).resource);
  });
});
