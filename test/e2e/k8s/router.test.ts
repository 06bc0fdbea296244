// The router as a process watching a real kube-apiserver: its ext_proc picks follow Pods and Kthena objects through
// adds, readiness changes, deletes, an API-server restart and watch expiry (etcd compaction → 410 → relist).
import { readdir } from 'node:fs/promises';
import { expect } from 'chai';
import { EnvoyClient } from '../../support/envoy-client.js';
import { startFakeEngine, type FakeEngine } from '../../support/fake-engine.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { startCluster, type TestCluster } from './cluster.js';
import { modelRoute, modelServer, namespace, pod } from './objects.js';

const NS = 'serving';
const PORT = 18_200;
const IPS = ['127.0.0.81', '127.0.0.82', '127.0.0.83'];
const root = new URL('../../../', import.meta.url).pathname;
const CHAT = { model: 'llama', messages: [{ role: 'user', content: 'hi' }] };

describe('router process against a real kube-apiserver', function () {
  this.timeout(60_000);
  let cluster: TestCluster;
  let engines: FakeEngine[] = [];
  let router: RouterProcess | undefined;
  let envoy: EnvoyClient;

  /** The set of endpoints the router offers for `llama` right now (primary + fallbacks). */
  async function offered(): Promise<string[]> {
    const t = await envoy.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: CHAT, response: null });
    if (t.immediate) return [`status ${t.immediate.status}`];
    return (t.destination ?? '').split(',').filter(Boolean).sort();
  }
  const addr = (i: number) => `${IPS[i]}:${PORT}`;
  const offeredEquals = (want: string[], what: string) =>
    until(async () => JSON.stringify(await offered()) === JSON.stringify([...want].sort()), 15_000, what);

  before(async function () {
    this.timeout(240_000);
    cluster = await startCluster();
    const crdDir = `${root}manifests/crds/`;
    for (const f of await readdir(crdDir)) if (f !== 'kustomization.yaml') await cluster.applyFile(crdDir + f);
    for (const crd of ['modelservers', 'modelroutes', 'externalmodelproviders']) await cluster.waitForCrd(`${crd}.networking.serving.volcano.sh`);
    await cluster.apply(namespace(NS));
    engines = await Promise.all(IPS.map((host) => startFakeEngine({ host, port: PORT, engine: 'vllm' })));
    await cluster.apply(modelServer(NS, 'llama', { workloadPort: { port: PORT } }));
    await cluster.apply(modelRoute(NS, 'llama'));
    for (let i = 0; i < 2; i++) {
      await cluster.apply(pod(NS, `llama-${i}`, { app: 'llama' }));
      await cluster.setPodReady(NS, `llama-${i}`, IPS[i]!);
    }
    router = await startRouterProcess(['--kubeconfig', cluster.kubeconfigPath, '--namespace', NS]);
    envoy = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
  });

  after(async () => {
    envoy?.close();
    await router?.stop();
    await Promise.all(engines.map((e) => e.close()));
    await cluster?.stop();
  });

  it('is ready after the initial sync and picks among the Ready pods', async () => {
    expect(await offered()).to.deep.equal([addr(0), addr(1)]);
  });

  it('follows a new pod turning Ready, and a pod turning unready', async () => {
    await cluster.apply(pod(NS, 'llama-2', { app: 'llama' }));
    await cluster.setPodReady(NS, 'llama-2', IPS[2]!);
    await offeredEquals([addr(0), addr(1), addr(2)], 'new pod offered');
    await cluster.setPodReady(NS, 'llama-0', IPS[0]!, false);
    await offeredEquals([addr(1), addr(2)], 'unready pod dropped');
  });

  it('follows deletes of pods and of the ModelRoute', async () => {
    await cluster.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: NS, name: 'llama-1' } });
    await offeredEquals([addr(2)], 'deleted pod dropped');
    await cluster.delete({ apiVersion: 'networking.serving.volcano.sh/v1alpha1', kind: 'ModelRoute', metadata: { namespace: NS, name: 'llama' } });
    await offeredEquals(['status 404'], 'route deleted → 404');
    await cluster.apply(modelRoute(NS, 'llama'));
    await offeredEquals([addr(2)], 'route back');
  });

  it('keeps following the cluster across an API-server restart and watch expiry', async () => {
    await cluster.restartApiServer();
    await cluster.setPodReady(NS, 'llama-0', IPS[0]!, true);
    await offeredEquals([addr(0), addr(2)], 'change after restart');
    await cluster.compactEtcd();
    await cluster.restartApiServer();
    await cluster.delete({ apiVersion: 'v1', kind: 'Pod', metadata: { namespace: NS, name: 'llama-2' } });
    await offeredEquals([addr(0)], 'change after compaction');
  });
});
