// KubernetesSource against a real kube-apiserver + etcd (scripts/setup-k8s-binaries.sh builds them; without them
// this suite fails with instructions). The tests share one control plane and run in order.
import { readdir } from 'node:fs/promises';
import { expect } from 'chai';
import { Datastore } from '../../../src/datastore/datastore.js';
import { objectivePriorities } from '../../../src/scheduler/fairness/objectives.js';
import { KubeApiError, KubeClient } from '../../../src/sources/kubernetes/kube-client.js';
import { relistsTotal, watchRestartsTotal } from '../../../src/sources/kubernetes/metrics.js';
import { KubernetesSource } from '../../../src/sources/kubernetes/source.js';
import { kustomizeBuild, startCluster, type TestCluster } from './cluster.js';
import { KTHENA, inferenceObjective, inferencePool, modelRoute, modelServer, namespace, pod, provider, secret } from './objects.js';
import { RecordingSink, eventually } from './sink.js';

const NS = 'llm';
const root = new URL('../../../', import.meta.url).pathname;
const tuning = { watchTimeoutSeconds: 60, backoffInitialMs: 100, backoffMaxMs: 1000 };

async function counter(metric: typeof relistsTotal | typeof watchRestartsTotal, labels: Record<string, string>): Promise<number> {
  const m = await metric.get();
  return m.values.filter((v) => Object.entries(labels).every(([k, val]) => (v.labels as Record<string, unknown>)[k] === val)).reduce((a, v) => a + v.value, 0);
}

async function rejection(p: Promise<unknown>): Promise<KubeApiError> {
  try {
    await p;
  } catch (err) {
    if (err instanceof KubeApiError) return err;
    throw err;
  }
  throw new Error('the API server accepted an invalid object');
}

describe('KubernetesSource against a real kube-apiserver', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let source: KubernetesSource | undefined;
  const sink = new RecordingSink();

  before(async function () {
    this.timeout(240_000);
    cluster = await startCluster();
    const crdDir = `${root}manifests/crds/`;
    for (const f of await readdir(crdDir)) if (f !== 'kustomization.yaml') await cluster.applyFile(crdDir + f);
    await cluster.applyFile(`${root}test/e2e/k8s/fixtures/inferencepool-crd.yaml`);
    await cluster.applyFile(`${root}test/e2e/k8s/fixtures/inferenceobjective-crd.yaml`);
    for (const crd of ['modelservers', 'modelroutes', 'externalmodelproviders']) await cluster.waitForCrd(`${crd}.networking.serving.volcano.sh`);
    await cluster.waitForCrd('inferencepools.inference.networking.k8s.io');
    await cluster.waitForCrd('inferenceobjectives.inference.networking.x-k8s.io');
    await cluster.apply(namespace(NS));
    await cluster.apply(namespace('elsewhere'));
  });

  after(async () => {
    await source?.stop();
    await cluster?.stop();
  });

  it('rejects Kthena objects that break the CRD schema, server-side', async () => {
    await cluster.apply(modelServer(NS, 'llama'));
    const engine = await rejection(cluster.apply(modelServer(NS, 'bad-engine', { inferenceEngine: 'Foo' })));
    expect(engine.status).to.equal(422);
    expect(engine.message).to.match(/inferenceEngine/);
    const port = await rejection(cluster.apply(modelServer(NS, 'bad-port', { workloadPort: { port: 70000 } })));
    expect(port.message).to.match(/workloadPort\.port/);
    const noRules = await rejection(cluster.apply(modelRoute(NS, 'no-rules', { rules: [] })));
    expect(noRules.message).to.match(/rules/);
    const noTarget = await rejection(cluster.apply(modelRoute(NS, 'no-target', { rules: [{ targetModels: [{ weight: 5 }] }] })));
    expect(noTarget.message).to.match(/targetModels/);
    const http = await rejection(cluster.apply({ ...provider(NS, 'plain-http', 'k'), spec: { providerType: 'OpenAI', baseURL: 'http://x' } }));
    expect(http.message).to.match(/baseURL/);
    expect(await cluster.get(modelServer(NS, 'bad-engine'))).to.equal(undefined);
  });

  it('start() resolves only after every kind is listed, with Pods the way the kubelet reported them', async () => {
    await cluster.apply(modelRoute(NS, 'llama'));
    await cluster.apply(secret(NS, 'openai', 'sk-first'));
    await cluster.apply(provider(NS, 'openai', 'openai'));
    await cluster.apply(inferencePool(NS, 'pool', { app: 'llama' }));
    await cluster.apply(pod(NS, 'llama-0', { app: 'llama' }));
    await cluster.apply(pod(NS, 'llama-1', { app: 'llama' }));
    await cluster.apply(pod(NS, 'other-0', { app: 'other' }));
    await cluster.apply(pod('elsewhere', 'llama-9', { app: 'llama' }));
    await cluster.setPodReady(NS, 'llama-0', '10.1.0.10');
    await cluster.setPodReady(NS, 'llama-1', '10.1.0.11', false);

    source = new KubernetesSource({
      kubeconfig: cluster.kubeconfigPath,
      namespace: NS,
      podSelector: 'app=llama',
      leaderElection: { leaseName: 'kthena-router', identity: 'router-a', leaseDurationSeconds: 3, retryPeriodMs: 300 },
      ...tuning,
    });
    await source.start(sink);
    expect(source.synced).to.equal(true);

    expect(sink.get('Pod', NS, 'llama-0')).to.include({ ready: true, podIP: '10.1.0.10', phase: 'Running' });
    expect(sink.get('Pod', NS, 'llama-1')).to.include({ ready: false, podIP: '10.1.0.11' });
    expect(sink.get('Pod', NS, 'other-0'), 'pod selector').to.equal(undefined);
    expect(sink.get('Pod', 'elsewhere', 'llama-9'), 'namespace scope').to.equal(undefined);
    expect(sink.get('ModelServer', NS, 'llama')?.spec.workloadPort.port).to.equal(8000);
    expect(sink.get('ModelRoute', NS, 'llama')?.spec.modelName).to.equal('llama');
    expect(sink.get('InferencePool', NS, 'pool')?.spec).to.deep.include({ selector: { app: 'llama' }, targetPorts: [8000] });
    expect(sink.get('ExternalModelProvider', NS, 'openai')?.spec.auth?.secretRef.name).to.equal('openai');
    expect(sink.get('Secret', NS, 'openai')?.data.apiKey).to.equal('sk-first');
  });

  it('follows adds, updates and deletes of every kind', async () => {
    await cluster.apply(pod(NS, 'llama-2', { app: 'llama' }));
    await eventually(() => expect(sink.get('Pod', NS, 'llama-2')).to.include({ ready: false, podIP: undefined }));
    await cluster.setPodReady(NS, 'llama-2', '10.1.0.12');
    await eventually(() => expect(sink.get('Pod', NS, 'llama-2')).to.include({ ready: true, podIP: '10.1.0.12' }));
    await cluster.setPodReady(NS, 'llama-2', '10.1.0.12', false);
    await eventually(() => expect(sink.get('Pod', NS, 'llama-2')?.ready).to.equal(false));
    await cluster.delete(pod(NS, 'llama-0', {}));
    await eventually(() => expect(sink.get('Pod', NS, 'llama-0')).to.equal(undefined));

    await cluster.apply(modelRoute(NS, 'llama', { modelName: 'llama-v2' }));
    await eventually(() => expect(sink.get('ModelRoute', NS, 'llama')?.spec.modelName).to.equal('llama-v2'));
    await cluster.apply(modelServer(NS, 'llama', { workloadPort: { port: 8001 } }));
    await eventually(() => expect(sink.get('ModelServer', NS, 'llama')?.spec.workloadPort.port).to.equal(8001));
    await cluster.apply(inferencePool(NS, 'pool', { app: 'llama', tier: 'gold' }));
    await eventually(() => expect(sink.get('InferencePool', NS, 'pool')?.spec.selector).to.deep.equal({ app: 'llama', tier: 'gold' }));

    await cluster.apply(secret(NS, 'openai', 'sk-rotated'));
    await eventually(() => expect(sink.get('Secret', NS, 'openai')?.data.apiKey).to.equal('sk-rotated'));
    await cluster.delete(provider(NS, 'openai', 'openai'));
    await eventually(() => expect(sink.get('ExternalModelProvider', NS, 'openai')).to.equal(undefined));
    await eventually(() => expect(sink.get('Secret', NS, 'openai'), 'unreferenced secret is dropped').to.equal(undefined));
    await cluster.delete(inferencePool(NS, 'pool', {}));
    await eventually(() => expect(sink.get('InferencePool', NS, 'pool')).to.equal(undefined));
  });

  it('feeds InferenceObjectives into the datastore, where they give their pool priorities, until deleted', async () => {
    const ds = new Datastore();
    const priorityOf = objectivePriorities((ns, name) => ds.objective(ns, name));
    const plain = new KubernetesSource({ kubeconfig: cluster.kubeconfigPath, namespace: NS, ...tuning });
    try {
      await plain.start(ds.sinkFor('kubernetes'));
      // poolRef group and kind come from the CRD's defaults.
      await cluster.apply(inferenceObjective(NS, 'premium', { priority: 10, poolRef: { name: 'pool' } }));
      await eventually(() => expect(priorityOf(`pool:${NS}/pool`, 'premium')).to.equal(10));
      expect(ds.objective(NS, 'premium')?.spec.poolRef).to.deep.equal({ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: 'pool' });
      expect(priorityOf(`pool:${NS}/other`, 'premium'), 'bound to its pool only').to.equal(undefined);
      await cluster.apply(inferenceObjective(NS, 'premium', { poolRef: { name: 'pool' } }));
      await eventually(() => expect(priorityOf(`pool:${NS}/pool`, 'premium'), 'unset priority').to.equal(0));
      await cluster.delete(inferenceObjective(NS, 'premium'));
      await eventually(() => expect(ds.objective(NS, 'premium')).to.equal(undefined));
    } finally {
      await plain.stop();
    }
  });

  it('as leader, marks loaded objects Accepted=True and skips (Accepted=False) what fails deeper validation', async () => {
    await eventually(async () => {
      const lease = await cluster.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace: NS, name: 'kthena-router' } });
      expect(lease?.spec.holderIdentity).to.equal('router-a');
    });
    await eventually(async () => {
      const ms = await cluster.get(modelServer(NS, 'llama'));
      const accepted = ms?.status?.conditions?.find((c: any) => c.type === 'Accepted');
      expect(accepted).to.include({ status: 'True', reason: 'Accepted', observedGeneration: ms?.metadata.generation });
    });
    // A regex the CRD cannot check: the object is stored, but the router must not load it.
    await cluster.apply(modelRoute(NS, 'bad-regex', { rules: [{ modelMatch: { uri: { regex: '(' } }, targetModels: [{ modelServerName: 'llama' }] }] }));
    await eventually(async () => {
      const mr = await cluster.get(modelRoute(NS, 'bad-regex'));
      const accepted = mr?.status?.conditions?.find((c: any) => c.type === 'Accepted');
      expect(accepted).to.include({ status: 'False', reason: 'Invalid' });
      expect(accepted.message).to.match(/regular expression/);
    });
    expect(sink.get('ModelRoute', NS, 'bad-regex')).to.equal(undefined);
  });

  it('resumes after a kube-apiserver restart and sees what changed', async () => {
    const restartsBefore = await counter(watchRestartsTotal, { resource: 'pods' });
    await cluster.restartApiServer();
    await cluster.apply(pod(NS, 'llama-3', { app: 'llama' }));
    await cluster.setPodReady(NS, 'llama-3', '10.1.0.13');
    await eventually(() => expect(sink.get('Pod', NS, 'llama-3')).to.include({ ready: true, podIP: '10.1.0.13' }), 30_000);
    expect(await counter(watchRestartsTotal, { resource: 'pods' })).to.be.greaterThan(restartsBefore);
  });

  it('relists when its resourceVersion has expired (410 Gone) and stays correct', async () => {
    const before = await counter(relistsTotal, { resource: 'modelservers' });
    // Move etcd past every resourceVersion the source holds, then forget the history, then force new watches.
    for (let i = 0; i < 5; i++) {
      await cluster.apply({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { namespace: 'elsewhere', name: `filler-${i}` }, data: { i: String(i) } });
    }
    await cluster.compactEtcd();
    await cluster.restartApiServer();
    await eventually(async () => expect(await counter(relistsTotal, { resource: 'modelservers' })).to.be.greaterThan(before), 30_000);
    await cluster.delete(pod(NS, 'llama-1', {}));
    await eventually(() => expect(sink.get('Pod', NS, 'llama-1')).to.equal(undefined), 30_000);
    expect(sink.get('ModelServer', NS, 'llama')?.spec.workloadPort.port).to.equal(8001);
    expect(sink.get('Pod', NS, 'llama-3')?.ready).to.equal(true);
  });

  it('a second replica waits for the Lease and takes over when the leader stops', async () => {
    const sinkB = new RecordingSink();
    const b = new KubernetesSource({
      kubeconfig: cluster.kubeconfigPath,
      namespace: NS,
      leaderElection: { leaseName: 'kthena-router', identity: 'router-b', leaseDurationSeconds: 3, retryPeriodMs: 300 },
      ...tuning,
    });
    try {
      await b.start(sinkB);
      expect(sinkB.get('ModelServer', NS, 'llama')?.spec.workloadPort.port).to.equal(8001);
      const lease = () => cluster.get({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { namespace: NS, name: 'kthena-router' } });
      await new Promise((r) => setTimeout(r, 1000));
      expect((await lease())?.spec.holderIdentity).to.equal('router-a');
      await source!.stop();
      source = undefined;
      await eventually(async () => expect((await lease())?.spec.holderIdentity).to.equal('router-b'), 10_000);
      // The new leader writes status too.
      await cluster.apply(modelRoute(NS, 'late', { modelName: 'late' }));
      await eventually(async () => {
        const mr = await cluster.get(modelRoute(NS, 'late'));
        expect(mr?.status?.conditions?.find((c: any) => c.type === 'Accepted')?.status).to.equal('True');
      });
    } finally {
      await b.stop();
    }
  });

  it('in InferencePool mode (no --pod-selector) watches and scrapes only the pool\'s pods, following its selector', async () => {
    const ns = 'pooled';
    await cluster.apply(namespace(ns));
    for (const [name, app, ip] of [['llama-0', 'llama', '10.3.0.10'], ['llama-1', 'llama', '10.3.0.11'], ['mistral-0', 'mistral', '10.3.0.20'], ['web-0', 'web', '10.3.0.30']]) {
      await cluster.apply(pod(ns, name!, { app: app! }));
      await cluster.setPodReady(ns, name!, ip!);
    }
    await cluster.apply(inferencePool(ns, 'pool', { app: 'llama' }));
    await cluster.apply(inferencePool(ns, 'mistral', { app: 'mistral' }));
    const ref = { namespace: ns, name: 'pool' };
    const ds = new Datastore({ pool: ref });
    const pooled = new KubernetesSource({ kubeconfig: cluster.kubeconfigPath, namespace: ns, pool: ref, ...tuning });
    const podNames = () => ds.list('Pod').map((p) => p.metadata.name).sort();
    const scraped = () => [...ds.allEndpoints()].map((e) => e.address).sort();
    try {
      await pooled.start(ds.sinkFor('kubernetes'));
      expect(podNames(), 'only the pool\'s pods are watched').to.deep.equal(['llama-0', 'llama-1']);
      expect(scraped()).to.deep.equal(['10.3.0.10:8000', '10.3.0.11:8000']);

      await cluster.apply(pod(ns, 'llama-2', { app: 'llama' }));
      await cluster.setPodReady(ns, 'llama-2', '10.3.0.12');
      await cluster.apply(pod(ns, 'web-1', { app: 'web' }));
      await eventually(() => expect(podNames()).to.deep.equal(['llama-0', 'llama-1', 'llama-2']));

      await cluster.apply(inferencePool(ns, 'pool', { app: 'mistral' }));
      await eventually(() => expect(podNames(), 'the watch follows a changed selector').to.deep.equal(['mistral-0']));
      expect(scraped()).to.deep.equal(['10.3.0.20:8000']);

      await cluster.delete(inferencePool(ns, 'pool', {}));
      await eventually(() => expect(podNames(), 'no pool, no pods').to.deep.equal([]));
      expect(scraped()).to.deep.equal([]);
    } finally {
      await pooled.stop();
    }
  });

  it('admits every kustomization of manifests/ (dry run; Gateway API and Istio kinds are not installed here)', async function () {
    this.timeout(120_000);
    const dirs = ['manifests', 'manifests/overlays/cluster-wide', 'manifests/overlays/redis', 'manifests/examples/sim-fleet'];
    for (const gw of ['envoy-gateway', 'kgateway', 'istio']) dirs.push(`manifests/examples/${gw}`);
    const notInstalled = /^(gateway\.networking\.k8s\.io|networking\.istio\.io)\//;
    for (const dir of dirs) {
      const objects = await kustomizeBuild(`${root}${dir}`);
      expect(objects.length, dir).to.be.greaterThan(0);
      // Namespaces first, as kubectl does, so that the dry run of namespaced objects finds them.
      for (const obj of objects.filter((o) => o.kind === 'Namespace')) await cluster.apply(obj);
      for (const obj of objects.filter((o) => o.kind !== 'Namespace' && !notInstalled.test(o.apiVersion))) {
        await cluster.apply(obj, { dryRun: true }).catch((err) => {
          throw new Error(`${dir}: ${obj.kind} ${obj.metadata.name}: ${err.message}`);
        });
      }
    }
  });

  it('runs with the least-privilege RBAC of manifests/base, as its ServiceAccount', async function () {
    this.timeout(120_000);
    for (const obj of await kustomizeBuild(`${root}manifests/base`)) await cluster.apply(obj);
    for (const obj of await kustomizeBuild(`${root}manifests/examples/sim-fleet`)) await cluster.apply(obj);
    const kubeconfig = await cluster.kubeconfigFor('system:serviceaccount:kthena-system:kthena-router', [
      'system:serviceaccounts',
      'system:serviceaccounts:kthena-system',
      'system:authenticated',
    ]);
    await cluster.apply(secret('kthena-system', 'openai', 'sk-sa'));
    await cluster.apply(provider('kthena-system', 'openai', 'openai'));
    const sinkSa = new RecordingSink();
    const sa = new KubernetesSource({
      kubeconfig,
      namespace: 'kthena-system',
      leaderElection: { leaseName: 'kthena-router', identity: 'router-sa', leaseDurationSeconds: 3, retryPeriodMs: 300 },
      ...tuning,
    });
    try {
      const synced = sa.start(sinkSa);
      const timeout = new Promise((_, reject) => setTimeout(() => reject(new Error('no initial sync: RBAC denies something the source needs')), 20_000));
      await Promise.race([synced, timeout]);
      expect(sinkSa.get('ModelServer', 'kthena-system', 'llama-8b')?.spec.model).to.equal('meta-llama/Llama-3.1-8B-Instruct');
      expect(sinkSa.get('Secret', 'kthena-system', 'openai')?.data.apiKey).to.equal('sk-sa');
      await eventually(async () => {
        const ms = await cluster.get({ apiVersion: KTHENA, kind: 'ModelServer', metadata: { namespace: 'kthena-system', name: 'llama-8b' } });
        expect(ms?.status?.conditions?.find((c: any) => c.type === 'Accepted')?.status).to.equal('True');
      });
      // Least privilege: nothing outside its namespace.
      const denied = await rejection(KubeClient.load({ kubeconfig }).request('GET', `/api/v1/namespaces/${NS}/pods`));
      expect(denied.status).to.equal(403);
    } finally {
      await sa.stop();
    }
  });
});
