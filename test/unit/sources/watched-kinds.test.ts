import { expect } from 'chai';
import { watchedCollections } from '../../../src/sources/kubernetes/watched-kinds.js';

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
});
