import { expect } from 'chai';
import { parseResource } from '../../../src/resources/parse.js';
import type { InferenceObjectiveResource } from '../../../src/resources/types.js';
import { flowOf } from '../../../src/scheduler/fairness/flow-key.js';
import { objectivePriorities } from '../../../src/scheduler/fairness/objectives.js';

function objective(namespace: string, name: string, priority: number, poolRef: Record<string, string>): InferenceObjectiveResource {
  const r = parseResource({
    apiVersion: 'inference.networking.x-k8s.io/v1alpha2',
    kind: 'InferenceObjective',
    metadata: { namespace, name },
    spec: { priority, poolRef },
  });
  if (r?.kind !== 'InferenceObjective') throw new Error('not an objective');
  return r;
}

function lookup(objectives: InferenceObjectiveResource[]) {
  const byKey = new Map(objectives.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
  return objectivePriorities((ns, name) => byKey.get(`${ns}/${name}`));
}

describe('objective priorities', () => {
  const priorityOf = lookup([
    objective('llm', 'premium', 10, { name: 'pool' }),
    objective('llm', 'legacy', 7, { group: 'inference.networking.x-k8s.io', name: 'pool' }),
    objective('llm', 'batch', -1, { group: 'networking.serving.volcano.sh', kind: 'ModelServer', name: 'llama' }),
    objective('llm', 'wrong-group', 3, { group: 'example.com', kind: 'ModelServer', name: 'llama' }),
    objective('llm', 'wrong-kind', 3, { kind: 'Service', name: 'pool' }),
    objective('team-b', 'premium', 50, { name: 'pool' }),
  ]);

  it('applies an objective to the InferencePool its poolRef names, in either InferencePool API group', () => {
    expect(priorityOf('pool:llm/pool', 'premium')).to.equal(10);
    expect(priorityOf('pool:llm/pool', 'legacy')).to.equal(7);
  });

  it('applies an objective to a ModelServer only when its poolRef is a Kthena ModelServer', () => {
    expect(priorityOf('server:llm/llama', 'batch')).to.equal(-1);
    expect(priorityOf('server:llm/llama', 'wrong-group')).to.equal(undefined);
    expect(priorityOf('server:llm/pool', 'premium'), 'an InferencePool ref never binds a ModelServer').to.equal(undefined);
  });

  it('does not apply objectives of another namespace, another pool or another kind', () => {
    expect(priorityOf('pool:team-b/pool', 'premium')).to.equal(50);
    expect(priorityOf('pool:default/pool', 'premium'), 'no objective in that namespace').to.equal(undefined);
    expect(priorityOf('pool:llm/other-pool', 'premium'), 'bound to another pool').to.equal(undefined);
    expect(priorityOf('pool:llm/pool', 'wrong-kind')).to.equal(undefined);
    expect(priorityOf('pool:llm/pool', 'unknown')).to.equal(undefined);
  });

  it('gives external providers and malformed groups no objectives', () => {
    expect(priorityOf('provider:llm/pool', 'premium')).to.equal(undefined);
    expect(priorityOf('pool:llm', 'premium')).to.equal(undefined);
    expect(priorityOf('llm/pool', 'premium')).to.equal(undefined);
  });

  it('flowOf tells a priority from a named objective apart from a number the client sent', () => {
    const h = (v: string) => new Map([['x-gateway-inference-objective', v]]);
    const named = (o: string) => priorityOf('pool:llm/pool', o);
    expect(flowOf(h('premium'), undefined, named)).to.deep.include({ priority: 10, fromObjective: true });
    expect(flowOf(h('7'), undefined, named)).to.deep.include({ priority: 7, fromObjective: false });
    expect(flowOf(h('unknown'), undefined, named)).to.deep.include({ priority: 0, fromObjective: false });
    expect(flowOf(new Map(), undefined, named)).to.deep.include({ priority: 0, fromObjective: false });
  });
});
