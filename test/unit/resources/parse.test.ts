import { expect } from 'chai';
import { parseResource, ResourceError } from '../../../src/resources/parse.js';
import { parseDuration } from '../../../src/resources/duration.js';
import { mr, ms, pod } from '../../support/builders.js';

describe('resources/parse', () => {
  it('parses a Kthena ModelServer with defaults and durations', () => {
    const r = parseResource(
      ms('llama', {
        model: 'meta-llama/Llama-3.1-8B',
        inferenceEngine: 'vLLM',
        workloadSelector: { matchLabels: { app: 'llama' } },
        workloadPort: { port: 8000 },
        trafficPolicy: { timeout: '1m30s', retry: { attempts: 3 } },
      }),
    );
    expect(r?.kind).to.equal('ModelServer');
    if (r?.kind !== 'ModelServer') return;
    expect(r.spec.workloadPort).to.deep.equal({ port: 8000, protocol: 'http' });
    expect(r.spec.trafficPolicy).to.deep.equal({ timeoutMs: 90_000, retry: { attempts: 3, retryIntervalMs: 100 } });
  });

  it('rejects a ModelServer with an unknown engine and names the field', () => {
    expect(() => parseResource(ms('x', { inferenceEngine: 'Foo', workloadSelector: {} }))).to.throw(
      ResourceError,
      /ModelServer default\/x: spec\.inferenceEngine/,
    );
  });

  it('parses a ModelRoute: weights default to 100, header names lower-cased', () => {
    const r = parseResource(
      mr('r', {
        modelName: 'llama',
        rules: [
          {
            modelMatch: { headers: { 'X-User-Tier': { exact: 'gold' } } },
            targetModels: [{ modelServerName: 'a' }, { modelServerName: 'b', weight: 10 }],
          },
        ],
      }),
    );
    if (r?.kind !== 'ModelRoute') throw new Error('not a route');
    expect(r.spec.rules[0]!.targetModels.map((t) => t.weight)).to.deep.equal([100, 10]);
    expect(Object.keys(r.spec.rules[0]!.modelMatch!.headers!)).to.deep.equal(['x-user-tier']);
  });

  it('rejects a ModelRoute without modelName or loraAdapters, bad weights, or a bad regex', () => {
    expect(() => parseResource(mr('r', { rules: [{ targetModels: [{ modelServerName: 'a' }] }] }))).to.throw(ResourceError);
    expect(() =>
      parseResource(mr('r', { modelName: 'm', rules: [{ targetModels: [{ modelServerName: 'a', weight: 101 }] }] })),
    ).to.throw(/weight/);
    expect(() =>
      parseResource(
        mr('r', { modelName: 'm', rules: [{ modelMatch: { uri: { regex: '(' } }, targetModels: [{ modelServerName: 'a' }] }] }),
      ),
    ).to.throw(/regular expression/);
  });

  it('reads Pod readiness and IP like a kubelet reports them', () => {
    const p = parseResource(pod('p', '10.0.0.1', { app: 'x' }));
    expect(p).to.include({ kind: 'Pod', podIP: '10.0.0.1', ready: true });
    const q = parseResource(pod('q', undefined, {}, false));
    expect(q).to.include({ ready: false, podIP: undefined });
  });

  it('accepts InferencePool v1 and v1alpha2 shapes', () => {
    const v1 = parseResource({
      apiVersion: 'inference.networking.k8s.io/v1',
      kind: 'InferencePool',
      metadata: { name: 'pool' },
      spec: {
        selector: { matchLabels: { app: 'vllm' } },
        targetPorts: [{ number: 8000 }, { number: 8001 }],
        endpointPickerRef: { name: 'epp', port: { number: 9002 }, failureMode: 'FailClose' },
      },
    });
    expect(v1).to.deep.include({ kind: 'InferencePool' });
    if (v1?.kind !== 'InferencePool') return;
    expect(v1.spec.targetPorts).to.deep.equal([8000, 8001]);
    expect(v1.spec.endpointPickerRef).to.include({ name: 'epp', port: 9002, failureMode: 'FailClose', kind: 'Service' });
    const old = parseResource({
      apiVersion: 'inference.networking.x-k8s.io/v1alpha2',
      kind: 'InferencePool',
      metadata: { name: 'pool' },
      spec: { selector: { app: 'vllm' }, targetPortNumber: 8000, extensionRef: { name: 'epp' } },
    });
    if (old?.kind !== 'InferencePool') throw new Error('not a pool');
    expect(old.spec.selector).to.deep.equal({ app: 'vllm' });
    expect(old.spec.targetPorts).to.deep.equal([8000]);
  });

  it('ignores kinds the router does not use and decodes Secrets', () => {
    expect(parseResource({ apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' } })).to.equal(undefined);
    const s = parseResource({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 's' },
      data: { key: Buffer.from('sk-1').toString('base64') },
      stringData: { other: 'x' },
    });
    expect(s).to.deep.include({ data: { key: 'sk-1', other: 'x' } });
  });

  it('requires metadata.name', () => {
    expect(() => parseResource({ apiVersion: 'v1', kind: 'Pod', metadata: {} })).to.throw(/metadata.name/);
  });

  it('parses Go durations', () => {
    expect(parseDuration('250ms')).to.equal(250);
    expect(parseDuration('1h2m3s')).to.equal(3_723_000);
    expect(() => parseDuration('10')).to.throw(/invalid duration/);
    expect(() => parseDuration('5s junk')).to.throw(/invalid duration/);
  });
});
