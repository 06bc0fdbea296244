import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parseAllDocuments } from 'yaml';
import { parseResource, ResourceError } from '../../../src/resources/parse.js';

const objective = (spec: unknown, apiVersion = 'inference.networking.x-k8s.io/v1alpha2') => ({
  apiVersion,
  kind: 'InferenceObjective',
  metadata: { name: 'premium', namespace: 'llm' },
  spec,
});

describe('resources/parse InferenceObjective', () => {
  it('fills the poolRef defaults of the Gateway API Inference Extension and treats an unset priority as 0', () => {
    expect(parseResource(objective({ priority: 10, poolRef: { name: 'pool' } }))).to.deep.include({
      kind: 'InferenceObjective',
      spec: { priority: 10, poolRef: { group: 'inference.networking.k8s.io', kind: 'InferencePool', name: 'pool' } },
    });
    const unset = parseResource(objective({ poolRef: { name: 'pool' } }));
    expect(unset?.kind === 'InferenceObjective' && unset.spec.priority).to.equal(0);
  });

  it('keeps negative priorities and an explicit poolRef group and kind', () => {
    const r = parseResource(
      objective({ priority: -5, poolRef: { group: 'networking.serving.volcano.sh', kind: 'ModelServer', name: 'llama' } }),
    );
    if (r?.kind !== 'InferenceObjective') throw new Error('not an objective');
    expect(r.spec).to.deep.equal({
      priority: -5,
      poolRef: { group: 'networking.serving.volcano.sh', kind: 'ModelServer', name: 'llama' },
    });
    expect(r.metadata).to.include({ namespace: 'llm', name: 'premium' });
  });

  it('rejects a priority that is not a 32-bit integer, naming the object and the field', () => {
    for (const priority of ['high', 1.5, 2 ** 31, true]) {
      expect(() => parseResource(objective({ priority, poolRef: { name: 'pool' } })), String(priority)).to.throw(
        ResourceError,
        /^InferenceObjective llm\/premium: spec\.priority must be/,
      );
    }
  });

  it('rejects a missing poolRef, a poolRef without a name, or a malformed kind', () => {
    expect(() => parseResource(objective({ priority: 1 }))).to.throw(ResourceError, /InferenceObjective llm\/premium: spec must have required property 'poolRef'/);
    expect(() => parseResource(objective(undefined))).to.throw(ResourceError, /poolRef/);
    expect(() => parseResource(objective({ poolRef: {} }))).to.throw(ResourceError, /spec\.poolRef must have required property 'name'/);
    expect(() => parseResource(objective({ poolRef: { name: '' } }))).to.throw(ResourceError, /spec\.poolRef\.name/);
    expect(() => parseResource(objective({ poolRef: { name: 'p', kind: 'Inference/Pool' } }))).to.throw(ResourceError, /spec\.poolRef\.kind/);
  });

  it('ignores InferenceObjective kinds of other API groups', () => {
    expect(parseResource(objective({ poolRef: { name: 'pool' } }, 'example.com/v1'))).to.equal(undefined);
  });

  it('the gateway examples hold valid objectives bound to their InferencePool, one of them sheddable', () => {
    for (const gw of ['envoy-gateway', 'kgateway', 'istio']) {
      const text = readFileSync(new URL(`../../../manifests/examples/${gw}/inferencepool.yaml`, import.meta.url), 'utf8');
      const parsed = parseAllDocuments(text).map((d) => parseResource(d.toJS()));
      const pool = parsed.find((o) => o?.kind === 'InferencePool');
      const objectives = parsed.flatMap((o) => (o?.kind === 'InferenceObjective' ? [o] : []));
      expect(objectives.length, gw).to.be.greaterThan(1);
      for (const o of objectives) expect(o.spec.poolRef, `${gw} ${o.metadata.name}`).to.deep.include({ kind: 'InferencePool', name: pool?.metadata.name });
      expect(objectives.some((o) => o.spec.priority < 0), gw).to.equal(true);
    }
  });
});
