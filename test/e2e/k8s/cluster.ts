// A real Kubernetes control plane for tests: etcd + kube-apiserver on loopback, built by
// scripts/setup-k8s-binaries.sh. No kubelet, scheduler or controllers: tests play the kubelet with setPodReady().
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createWriteStream, existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { KubeApiError, KubeClient } from '../../../src/sources/kubernetes/kube-client.js';

export interface ObjectRef {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

export interface TestCluster {
  /** kubeconfig of a cluster admin (system:masters). */
  kubeconfigPath: string;
  server: string;
  client: KubeClient;
  /** Writes a kubeconfig that authenticates as `user` (with `groups`), for RBAC tests. */
  kubeconfigFor(user: string, groups?: string[]): Promise<string>;
  /**
   * Server-side apply; returns the stored object. Rejections (e.g. schema validation) throw KubeApiError. With
   * dryRun the API server validates and admits the object without storing it; with strictFields a field the schema
   * does not know is an error too (fieldValidation=Strict), not a warning.
   */
  apply(obj: Record<string, any>, opts?: { dryRun?: boolean; strictFields?: boolean }): Promise<Record<string, any>>;
  /** Applies every YAML document of a file. */
  applyFile(path: string): Promise<void>;
  delete(ref: ObjectRef): Promise<void>;
  get(ref: ObjectRef): Promise<Record<string, any> | undefined>;
  /** What a kubelet reports once the pod runs: phase Running, podIP, and the Ready condition. */
  setPodReady(namespace: string, name: string, podIP: string, ready?: boolean): Promise<void>;
  /** Waits until a CustomResourceDefinition is Established. */
  waitForCrd(name: string): Promise<void>;
  /** Stops and starts kube-apiserver on the same address (etcd keeps the data). */
  restartApiServer(): Promise<void>;
  /** Compacts etcd history up to now, so that watches resuming from older resourceVersions get 410 Gone. */
  compactEtcd(): Promise<void>;
  stop(): Promise<void>;
}

const binDir = process.env.KTHENA_K8S_BIN ?? join(process.env.KTHENA_CACHE ?? join(homedir(), '.cache', 'kthena-router'), 'k8s', 'bin');

/** The binaries, or an error that says how to build them. */
export function k8sBinaries(): { apiserver: string; etcd: string } {
  const apiserver = join(binDir, 'kube-apiserver');
  const etcd = join(binDir, 'etcd');
  if (!existsSync(apiserver) || !existsSync(etcd)) {
    throw new Error(
      `kube-apiserver/etcd not found in ${binDir}. Build them once (10-25 min, cached) with:\n` +
        `  scripts/setup-k8s-binaries.sh\n(or point KTHENA_K8S_BIN at a directory holding kube-apiserver and etcd)`,
    );
  }
  return { apiserver, etcd };
}

export async function startCluster(): Promise<TestCluster> {
  const bins = k8sBinaries();
  const dir = await mkdtemp(join(tmpdir(), 'kthena-k8s-'));
  const [etcdPort, peerPort, apiPort] = [await freePort(), await freePort(), await freePort()];
  const etcdUrl = `http://127.0.0.1:${etcdPort}`;
  const server = `https://127.0.0.1:${apiPort}`;
  const adminToken = randomBytes(24).toString('hex');
  const tokens: string[] = [`${adminToken},kthena-e2e-admin,admin,"system:masters"`];
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  await writeFile(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  await writeFile(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
  await writeFile(join(dir, 'tokens.csv'), tokens.join('\n') + '\n');

  const etcd = startProcess(bins.etcd, [
    '--name=e2e',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${etcdUrl}`,
    `--advertise-client-urls=${etcdUrl}`,
    `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
    `--initial-cluster=e2e=http://127.0.0.1:${peerPort}`,
    '--unsafe-no-fsync',
    '--log-level=warn',
  ], join(dir, 'etcd.log'));
  await waitFor(async () => (await fetch(`${etcdUrl}/health`)).ok, 30_000, 'etcd', join(dir, 'etcd.log'));

  const apiArgs = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${apiPort}`,
    `--cert-dir=${join(dir, 'certs')}`,
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    '--authorization-mode=RBAC',
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
    '--service-cluster-ip-range=10.96.0.0/24',
    // No controller-manager creates default ServiceAccounts, and nothing here needs the plugin.
    '--disable-admission-plugins=ServiceAccount',
    '--enable-priority-and-fairness=false',
    '--profiling=false',
    '--v=1',
  ];
  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  let apiserver: ChildProcess | undefined;
  let apiLogIndex = 0;
  const startApi = async (): Promise<void> => {
    const log = join(dir, `apiserver-${apiLogIndex++}.log`);
    apiserver = startProcess(bins.apiserver, apiArgs, log);
    const ca = join(dir, 'certs', 'apiserver.crt');
    await waitFor(() => existsSync(ca), 60_000, 'kube-apiserver certificate', log);
    await waitFor(async () => (await rawGet(server, '/readyz', adminToken, await readFile(ca))) === 200, 90_000, 'kube-apiserver', log);
  };
  await startApi();

  const writeKubeconfig = async (path: string, user: string, token: string): Promise<void> => {
    const ca = (await readFile(join(dir, 'certs', 'apiserver.crt'))).toString('base64');
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'e2e', server, caData: ca }],
      users: [{ name: user, token }],
      contexts: [{ name: 'e2e', cluster: 'e2e', user, namespace: 'default' }],
      currentContext: 'e2e',
    });
    await writeFile(path, kc.exportConfig());
  };
  await writeKubeconfig(kubeconfigPath, 'kthena-e2e-admin', adminToken);
  const client = KubeClient.load({ kubeconfig: kubeconfigPath });
  const discovery = new Discovery(client);

  const cluster: TestCluster = {
    kubeconfigPath,
    server,
    client,
    async kubeconfigFor(user, groups = []) {
      const token = randomBytes(24).toString('hex');
      tokens.push(`${token},${user},${user},"${groups.join(',')}"`);
      await writeFile(join(dir, 'tokens.csv'), tokens.join('\n') + '\n');
      // The static token file is read at start-up only.
      await cluster.restartApiServer();
      const path = join(dir, `${user.replace(/[^a-z0-9-]/gi, '_')}.kubeconfig`);
      await writeKubeconfig(path, user, token);
      return path;
    },
    async apply(obj, opts = {}) {
      const path = await discovery.objectPath(obj as ObjectRef);
      const stored = await client.request('PATCH', path, {
        query: {
          fieldManager: 'kthena-e2e',
          force: true,
          dryRun: opts.dryRun ? 'All' : undefined,
          fieldValidation: opts.strictFields ? 'Strict' : undefined,
        },
        contentType: 'application/apply-patch+yaml',
        body: obj,
      });
      if (obj.kind === 'CustomResourceDefinition') discovery.reset();
      return stored;
    },
    async applyFile(path) {
      const { parseAllDocuments } = await import('yaml');
      for (const doc of parseAllDocuments(await readFile(path, 'utf8'))) {
        const obj = doc.toJS();
        if (obj) await cluster.apply(obj);
      }
    },
    async delete(ref) {
      try {
        await client.request('DELETE', await discovery.objectPath(ref), { body: { propagationPolicy: 'Background', gracePeriodSeconds: 0 } });
      } catch (err) {
        if (!(err instanceof KubeApiError && err.status === 404)) throw err;
      }
    },
    async get(ref) {
      try {
        return await client.request('GET', await discovery.objectPath(ref));
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) return undefined;
        throw err;
      }
    },
    async setPodReady(namespace, name, podIP, ready = true) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      await client.request('PATCH', `/api/v1/namespaces/${namespace}/pods/${name}/status`, {
        contentType: 'application/merge-patch+json',
        body: {
          status: {
            phase: 'Running',
            podIP,
            podIPs: [{ ip: podIP }],
            startTime: now,
            conditions: [
              { type: 'PodScheduled', status: 'True', lastTransitionTime: now },
              { type: 'Initialized', status: 'True', lastTransitionTime: now },
              { type: 'ContainersReady', status: ready ? 'True' : 'False', lastTransitionTime: now },
              { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: now },
            ],
          },
        },
      });
    },
    async waitForCrd(name) {
      await waitFor(async () => {
        const crd = await cluster.get({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name } });
        return (crd?.status?.conditions ?? []).some((c: any) => c.type === 'Established' && c.status === 'True');
      }, 30_000, `CRD ${name}`);
      discovery.reset();
    },
    async restartApiServer() {
      await stopProcess(apiserver);
      await startApi();
    },
    async compactEtcd() {
      const range = await fetch(`${etcdUrl}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key: Buffer.from('/').toString('base64') }) });
      const revision = (await range.json()).header.revision;
      const res = await fetch(`${etcdUrl}/v3/kv/compaction`, { method: 'POST', body: JSON.stringify({ revision, physical: true }) });
      if (!res.ok) throw new Error(`etcd compaction failed: ${res.status} ${await res.text()}`);
    },
    async stop() {
      await stopProcess(apiserver);
      await stopProcess(etcd);
      if (!process.env.KTHENA_E2E_KEEP) await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}

/** Maps objects to their REST paths using the API server's discovery documents. */
class Discovery {
  private cache = new Map<string, Promise<Array<{ name: string; kind: string; namespaced: boolean }>>>();
  constructor(private readonly client: KubeClient) {}

  reset(): void {
    this.cache.clear();
  }

  async objectPath(ref: ObjectRef): Promise<string> {
    const gv = ref.apiVersion;
    if (!this.cache.has(gv)) {
      const base = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
      this.cache.set(gv, this.client.request('GET', base).then((d: any) => d.resources));
    }
    let resources;
    try {
      resources = await this.cache.get(gv)!;
    } catch (err) {
      this.cache.delete(gv);
      throw err;
    }
    const res = resources.find((r) => r.kind === ref.kind && !r.name.includes('/'));
    if (!res) throw new Error(`unknown kind ${ref.kind} in ${gv}`);
    const base = gv.includes('/') ? `/apis/${gv}` : `/api/${gv}`;
    const ns = res.namespaced ? `/namespaces/${ref.metadata.namespace ?? 'default'}` : '';
    return `${base}${ns}/${res.name}/${encodeURIComponent(ref.metadata.name)}`;
  }
}

/** Objects of `kustomize build DIR`, with the kustomize that scripts/setup-k8s-binaries.sh builds. */
export async function kustomizeBuild(dir: string): Promise<Record<string, any>[]> {
  const bin = join(binDir, 'kustomize');
  if (!existsSync(bin)) throw new Error(`kustomize not found in ${binDir}: run scripts/setup-k8s-binaries.sh`);
  const { execFile } = await import('node:child_process');
  const out = await new Promise<string>((resolve, reject) =>
    execFile(bin, ['build', dir], { maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) =>
      err ? reject(new Error(`kustomize build ${dir}: ${stderr || err.message}`)) : resolve(stdout),
    ),
  );
  const { parseAllDocuments } = await import('yaml');
  return parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
}

function startProcess(bin: string, args: string[], logPath: string): ChildProcess {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const log = createWriteStream(logPath);
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  return child;
}

async function stopProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

async function waitFor(check: () => boolean | Promise<boolean>, timeoutMs: number, what: string, log?: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      if (await check()) return;
    } catch {
      // not up yet
    }
    await delay(200);
  }
  const tail = log ? (await readFile(log, 'utf8').catch(() => '')).split('\n').slice(-20).join('\n') : '';
  throw new Error(`${what} not ready after ${timeoutMs} ms${tail ? `; last log lines:\n${tail}` : ''}`);
}

async function rawGet(server: string, path: string, token: string, ca: Buffer): Promise<number> {
  const https = await import('node:https');
  return new Promise((resolve, reject) => {
    const req = https.get(`${server}${path}`, { ca, headers: { Authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}
