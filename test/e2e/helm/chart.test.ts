import { expect } from 'chai';
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { parseCli } from '../../../src/cli.js';
import { parseConfig } from '../../../src/config/config.js';
import { startCluster, type TestCluster } from '../k8s/cluster.js';

// Issue 14 item 7: charts/kthena-router with a real helm (built from helm.sh/helm/v4 by scripts/setup-helm.sh):
// `helm lint`, `helm template` for each mode and provider, and a server-side dry-run apply of every rendered object on
// the test kube-apiserver (CRDs from the chart, the InferencePool fixture and minimal provider CRDs).

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CHART = join(ROOT, 'charts/kthena-router');
const FIXTURES = join(ROOT, 'test/e2e/helm/fixtures');
const GIE_VALUES = join(FIXTURES, 'gie-values.yaml');
const NS = 'kthena-helm';
const RELEASE = 'llama';

type Obj = Record<string, any>;

function helmBinary(): string {
  const out = execFileSync('bash', [join(ROOT, 'scripts/setup-helm.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

const VARIANTS: Record<string, string[]> = {
  kthena: [],
  'kthena-files-tls-redis': [
    '--set', 'resourceSource.type=files',
    '--set-string', 'resourceSource.files.fleet\\.yaml=kind: ModelServer',
    '--set', 'tls.secureServing=true', '--set', 'tls.certSecretName=router-tls',
    '--set', 'redis.enabled=true', '--set', 'replicas=3',
  ],
  'kthena-all-namespaces': ['--set', 'resourceSource.allNamespaces=true'],
  'pool-none': ['-f', GIE_VALUES],
  'pool-gke': ['-f', GIE_VALUES, '--set', 'provider.name=gke', '--set', 'inferenceGateway.name=inference-gateway'],
  'pool-istio': ['-f', GIE_VALUES, '--set', 'provider.name=istio', '--set', 'inferenceGateway.name=inference-gateway', '--set', 'inferenceGateway.create=true'],
  'pool-envoy-gateway': ['-f', GIE_VALUES, '--set', 'provider.name=envoy-gateway', '--set', 'inferenceGateway.name=inference-gateway', '--set', 'inferenceGateway.create=true'],
  'pool-kgateway': ['-f', GIE_VALUES, '--set', 'provider.name=kgateway', '--set', 'inferenceGateway.name=inference-gateway', '--set', 'inferenceGateway.create=true'],
};

describe('Helm chart charts/kthena-router: real helm, server-side dry-run on a real kube-apiserver', function () {
  this.timeout(300_000);
  let helm: string;
  const rendered = new Map<string, Obj[]>();

  const run = (args: string[]) => spawnSync(helm, args, { encoding: 'utf8' });
  const template = (args: string[]): Obj[] => {
    const r = run(['template', RELEASE, CHART, '--namespace', NS, ...args]);
    if (r.status !== 0) throw new Error(`helm template ${args.join(' ')}: ${r.stderr}`);
    return parseAllDocuments(r.stdout).map((d) => d.toJS() as Obj).filter(Boolean);
  };
  const find = (objs: Obj[], kind: string, name?: string) => objs.find((o) => o.kind === kind && (name === undefined || o.metadata.name === name));
  const container = (objs: Obj[], name: string) => find(objs, 'Deployment', name)!.spec.template.spec.containers[0];

  before(() => {
    helm = helmBinary();
    for (const [variant, args] of Object.entries(VARIANTS)) rendered.set(variant, template(args));
  });

  it('helm lint --strict passes for every variant', () => {
    for (const [variant, args] of Object.entries(VARIANTS)) {
      const r = run(['lint', '--strict', CHART, '--namespace', NS, ...args]);
      expect(r.status, `${variant}: ${r.stdout}${r.stderr}`).to.equal(0);
    }
  });

  it('Kthena mode by default: the objects of manifests/base, named after the release', () => {
    const objs = rendered.get('kthena')!;
    const name = 'llama-kthena-router';
    expect(objs.map((o) => `${o.kind}/${o.metadata.name}`).sort()).to.deep.equal(
      ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Role', 'RoleBinding', 'Service', 'ServiceAccount'].map((k) => `${k}/${k === 'ConfigMap' ? `${name}-config` : name}`).sort(),
    );
    const deploy = find(objs, 'Deployment')!;
    expect(deploy.spec.replicas).to.equal(2);
    const c = container(objs, name);
    expect(c.image).to.equal('ghcr.io/kthena-router/kthena-router:latest');
    expect(c.args).to.include.members(['--in-cluster', '--leader-elect', `--lease-name=${name}`, '--grpc-port=9002', '--health-port=9003']);
    expect(c.args).to.not.include('--secure-serving');
    expect(c.readinessProbe.grpc).to.deep.equal({ port: 9003, service: 'readiness' });
    expect(c.livenessProbe.grpc).to.deep.equal({ port: 9003, service: 'liveness' });
    const config = find(objs, 'ConfigMap')!.data['config.yaml'] as string;
    expect(config).to.contain('least-request').and.not.contain('redis');
    const lease = find(objs, 'Role')!.rules.find((r: Obj) => r.resourceNames);
    expect(lease.resourceNames).to.deep.equal([name]);
  });

  it('Kthena mode with resource files, a mounted TLS Secret and Redis', () => {
    const objs = rendered.get('kthena-files-tls-redis')!;
    const name = 'llama-kthena-router';
    const c = container(objs, name);
    expect(c.args).to.include.members(['--resources=/etc/kthena/resources', '--secure-serving', '--cert-path=/etc/kthena/tls', '--enable-cert-reload']);
    expect(c.args).to.not.include('--in-cluster');
    expect(find(objs, 'Deployment', name)!.spec.template.spec.automountServiceAccountToken).to.equal(false);
    expect(find(objs, 'ConfigMap', `${name}-resources`)!.data['fleet.yaml']).to.contain('kind: ModelServer');
    const volumes = find(objs, 'Deployment', name)!.spec.template.spec.volumes;
    expect(volumes.find((v: Obj) => v.name === 'tls').secret.secretName).to.equal('router-tls');
    expect(find(objs, 'Role')).to.equal(undefined);
    expect(find(objs, 'Deployment', `${name}-redis`)).to.not.equal(undefined);
    expect(find(objs, 'Service', `${name}-redis`)).to.not.equal(undefined);
    expect(find(objs, 'ConfigMap', `${name}-config`)!.data['config.yaml']).to.contain(`address: ${name}-redis.${NS}.svc:6379`);
    expect(find(objs, 'Service', name)!.spec.ports[0].appProtocol).to.equal('http2');
  });

  it('watching every namespace takes a ClusterRole, and the lease stays namespaced', () => {
    const objs = rendered.get('kthena-all-namespaces')!;
    expect(container(objs, 'llama-kthena-router').args).to.include('--all-namespaces');
    expect(find(objs, 'ClusterRole')!.rules.some((r: Obj) => r.resources.includes('leases'))).to.equal(false);
    expect(find(objs, 'Role', 'llama-kthena-router-lease')!.rules[1].resourceNames).to.deep.equal(['llama-kthena-router']);
  });

  it("a GIE inferencepool values file renders GIE's objects and names, with kthena-router as the picker", () => {
    const objs = rendered.get('pool-none')!;
    const pool = find(objs, 'InferencePool', RELEASE)!;
    expect(pool.apiVersion).to.equal('inference.networking.k8s.io/v1');
    expect(pool.spec).to.deep.equal({
      targetPorts: [{ number: 8000 }],
      selector: { matchLabels: { app: 'vllm-llama3-8b-instruct' } },
      endpointPickerRef: { name: 'llama-epp', port: { number: 9002 }, failureMode: 'FailClose' },
    });
    const deploy = find(objs, 'Deployment', 'llama-epp')!;
    expect(deploy.spec.replicas).to.equal(2);
    const c = deploy.spec.template.spec.containers[0];
    expect(c.image).to.equal('ghcr.io/kthena-router/kthena-router:v0.1.0');
    expect(c.args).to.include.members(['--in-cluster', '--pool-name=llama', `--pool-namespace=${NS}`, '--secure-serving', '--grpc-port=9002', '--health-port=9003']);
    // GIE's own flags without an equivalent are not passed (the router would refuse them).
    expect(c.args.join(' ')).to.not.match(/kv-cache|--v=/);
    expect(c.env).to.deep.include({ name: 'OTEL_SERVICE_NAME', value: 'llama-picker' });
    expect(deploy.spec.template.spec.tolerations[0].key).to.equal('dedicated');
    // The install notes name what was left out.
    const notes = run(['install', RELEASE, CHART, '--namespace', NS, '--dry-run=client', '-f', GIE_VALUES]);
    expect(notes.status, notes.stderr).to.equal(0);
    expect(notes.stdout).to.contain('Ignored picker flags (GIE\'s own, no equivalent here): kv-cache-usage-percentage-metric, v\n');
    const svc = find(objs, 'Service', 'llama-epp')!;
    expect(svc.spec.ports[0]).to.include({ name: 'grpc-ext-proc', port: 9002 });
    for (const kind of ['DestinationRule', 'HealthCheckPolicy', 'GCPBackendPolicy', 'Gateway', 'HTTPRoute']) expect(find(objs, kind), kind).to.equal(undefined);
  });

  it('provider objects: istio DestinationRule, gke policies, Gateway classes for envoy-gateway and kgateway', () => {
    const istio = rendered.get('pool-istio')!;
    const dr = find(istio, 'DestinationRule', 'llama-epp')!;
    expect(dr.spec).to.deep.equal({ host: `llama-epp.${NS}.svc.cluster.local`, trafficPolicy: { tls: { mode: 'SIMPLE', insecureSkipVerify: true } } });
    expect(find(istio, 'Gateway')!.spec.gatewayClassName).to.equal('istio');
    const gke = rendered.get('pool-gke')!;
    expect(find(gke, 'HealthCheckPolicy', RELEASE)!.spec.default.config.httpHealthCheck.port).to.equal(8000);
    expect(find(gke, 'GCPBackendPolicy', RELEASE)!.spec.targetRef).to.deep.equal({ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: RELEASE });
    expect(find(gke, 'Gateway')).to.equal(undefined);
    expect(find(gke, 'HTTPRoute', RELEASE)!.spec.parentRefs[0].name).to.equal('inference-gateway');
    expect(find(rendered.get('pool-envoy-gateway')!, 'Gateway')!.spec.gatewayClassName).to.equal('envoy-gateway');
    expect(find(rendered.get('pool-kgateway')!, 'Gateway')!.spec.gatewayClassName).to.equal('kgateway');
    const route = find(rendered.get('pool-kgateway')!, 'HTTPRoute', RELEASE)!;
    expect(route.spec.rules[0].backendRefs[0]).to.deep.equal({ group: 'inference.networking.k8s.io', kind: 'InferencePool', name: RELEASE });
  });

  it('refuses an unknown provider and a resource source it does not know, with a clear message', () => {
    const bad = run(['template', RELEASE, CHART, '-f', GIE_VALUES, '--set', 'provider.name=nginx']);
    expect(bad.status).to.not.equal(0);
    expect(bad.stderr).to.contain('provider.name must be one of none, gke, istio, envoy-gateway, kgateway, got "nginx"');
    const source = run(['template', RELEASE, CHART, '--set', 'resourceSource.type=etcd']);
    expect(source.status).to.not.equal(0);
    expect(source.stderr).to.contain('resourceSource.type must be kubernetes or files');
  });

  it("the router accepts every variant's arguments and configuration", () => {
    for (const [variant, objs] of rendered) {
      for (const deploy of objs.filter((o) => o.kind === 'Deployment' && o.metadata.name !== 'llama-kthena-router-redis')) {
        const c = deploy.spec.template.spec.containers[0];
        expect(() => parseCli(c.args), `${variant}: ${c.args.join(' ')}`).to.not.throw();
        const configMap = find(objs, 'ConfigMap', `${deploy.metadata.name}-config`)!;
        expect(() => parseConfig(parse(configMap.data['config.yaml'])), variant).to.not.throw();
      }
    }
  });

  it("the chart's CRDs are manifests/crds (scripts/gen-crds.ts writes both)", () => {
    const files = readdirSync(join(CHART, 'crds')).sort();
    expect(files).to.deep.equal(readdirSync(join(ROOT, 'manifests/crds')).filter((f) => f !== 'kustomization.yaml').sort());
    for (const f of files) expect(readFileSync(join(CHART, 'crds', f), 'utf8'), f).to.equal(readFileSync(join(ROOT, 'manifests/crds', f), 'utf8'));
  });

  describe('server-side dry-run apply', () => {
    let cluster: TestCluster;

    before(async () => {
      cluster = await startCluster();
      const crds = [
        ...readdirSync(join(CHART, 'crds')).map((f) => join(CHART, 'crds', f)),
        join(ROOT, 'test/e2e/k8s/fixtures/inferencepool-crd.yaml'),
        join(ROOT, 'test/e2e/k8s/fixtures/inferenceobjective-crd.yaml'),
        join(FIXTURES, 'provider-crds.yaml'),
      ];
      for (const file of crds) {
        for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
          const crd = doc.toJS() as Obj;
          await cluster.apply(crd);
          await cluster.waitForCrd(crd.metadata.name);
        }
      }
      await cluster.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: NS } });
    });

    after(async () => {
      await cluster?.stop();
    });

    it('the API server admits every object of every variant, unknown fields refused', async () => {
      // The check itself: a misspelt field is refused.
      const deploy = structuredClone(find(rendered.get('kthena')!, 'Deployment')!);
      deploy.spec.template.spec.containers[0].readinessProbe.grpc.srvice = 'readiness';
      const refused = await cluster.apply(deploy, { dryRun: true, strictFields: true }).then(() => undefined, (err: Error) => err);
      expect(refused?.message).to.match(/srvice/);
      let count = 0;
      for (const [variant, objs] of rendered) {
        for (const obj of objs) {
          try {
            await cluster.apply(obj, { dryRun: true, strictFields: true });
          } catch (err) {
            throw new Error(`${variant}: ${obj.kind}/${obj.metadata.name}: ${(err as Error).message}`);
          }
          count++;
        }
      }
      expect(count).to.be.above(60);
    });
  });
});
