// Checks the deployment artifacts against the code that will read them: Deployment and compose arguments against
// the router's and the simulator's CLI parsers, config files against the config parser, resource files against the
// resource parser, and every cross-reference (files, services, addresses) between them. No Docker or cluster needed.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { expect } from 'chai';
import { parse, parseAllDocuments } from 'yaml';
import { parseCli } from '../../../src/cli.js';
import { parseConfig } from '../../../src/config/config.js';
import { parseResource } from '../../../src/resources/parse.js';
import { parseCliArgs as parseSimArgs } from '../../../src/sim/options.js';
import { kubernetesCliOptions } from '../../../src/sources/kubernetes/cli.js';

const root = new URL('../../../', import.meta.url).pathname;
const read = (p: string) => readFileSync(join(root, p), 'utf8');
const docs = (p: string) => parseAllDocuments(read(p)).map((d) => d.toJS()).filter(Boolean);

/** Splits router arguments into the Kubernetes source's flags and the rest, and parses the rest strictly. */
function checkRouterArgs(args: string[]): void {
  const k8sFlags = new Set(Object.keys(kubernetesCliOptions).map((f) => `--${f}`));
  const rest = args.filter((a) => !k8sFlags.has(a.split('=')[0]!));
  expect(() => parseCli(rest), args.join(' ')).not.to.throw();
}

function kustomizations(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, dir))) {
    const p = join(dir, entry);
    if (statSync(join(root, p)).isDirectory()) out.push(...kustomizations(p));
    else if (entry === 'kustomization.yaml') out.push(p);
  }
  return out;
}

describe('deployment artifacts', () => {
  it('every kustomization names files and directories that exist', () => {
    const all = kustomizations('manifests');
    expect(all.length).to.be.greaterThan(6);
    for (const k of all) {
      for (const r of parse(read(k)).resources ?? []) {
        expect(existsSync(join(root, dirname(k), r)), `${k} → ${r}`).to.equal(true);
      }
    }
  });

  it('the router Deployment passes arguments the router accepts, and mounts its ConfigMap config', () => {
    const [deploy] = docs('manifests/base/deployment.yaml');
    const container = deploy.spec.template.spec.containers[0];
    checkRouterArgs(container.args);
    expect(container.args).to.include('--in-cluster');
    const configArg = container.args.find((a: string) => a.startsWith('--config='));
    const mount = container.volumeMounts.find((m: any) => configArg.slice('--config='.length).startsWith(m.mountPath));
    const volume = deploy.spec.template.spec.volumes.find((v: any) => v.name === mount.name);
    const [cm] = docs('manifests/base/configmap.yaml');
    expect(volume.configMap.name).to.equal(cm.metadata.name);
    expect(() => parseConfig(parse(cm.data['config.yaml']))).not.to.throw();
    const probes = [container.livenessProbe, container.readinessProbe].map((p) => p.grpc);
    expect(probes.map((p) => p.service)).to.deep.equal(['liveness', 'readiness']);
    expect(deploy.spec.replicas).to.equal(2);
    expect(deploy.spec.template.spec.securityContext.runAsNonRoot).to.equal(true);
  });

  it('the gateway examples add pool flags the router accepts, serve TLS as gateways expect, and point the pool at the router Service', () => {
    const [svc] = docs('manifests/base/service.yaml');
    for (const gw of ['envoy-gateway', 'kgateway', 'istio']) {
      const k = parse(read(`manifests/examples/${gw}/kustomization.yaml`));
      const added = parse(k.patches[0].patch).map((op: any) => op.value);
      checkRouterArgs(added);
      const pool = docs(`manifests/examples/${gw}/inferencepool.yaml`).find((d) => d.kind === 'InferencePool');
      expect(pool.spec.endpointPickerRef.name).to.equal(svc.metadata.name);
      expect(svc.spec.ports.map((p: any) => p.port)).to.include(pool.spec.endpointPickerRef.port.number);
      expect(added).to.include(`--pool-name=${pool.metadata.name}`);
      // Envoy Gateway (AI Gateway's InferencePool support), kgateway and Istio (GIE's DestinationRule) dial the picker
      // over TLS without verifying it, as GIE's own picker serves TLS with a self-signed certificate.
      expect(added).to.include('--secure-serving');
      expect(() => parseResource(pool)).not.to.throw();
    }
  });

  it('the simulator fleet runs with arguments the simulator accepts and matches its ModelServer', () => {
    const [deploy] = docs('manifests/examples/sim-fleet/deployment.yaml');
    const c = deploy.spec.template.spec.containers[0];
    expect(() => parseSimArgs(c.args)).not.to.throw();
    const [ms] = docs('manifests/examples/sim-fleet/modelserver.yaml');
    expect(parseResource(ms)).to.have.property('kind', 'ModelServer');
    expect(deploy.spec.template.metadata.labels).to.include(ms.spec.workloadSelector.matchLabels);
    expect(c.ports[0].containerPort).to.equal(ms.spec.workloadPort.port);
  });

  it('docker-compose.yml: services, files and fixed addresses agree with Envoy and the router resources', () => {
    const compose = parse(read('docker-compose.yml'));
    const services = compose.services as Record<string, any>;
    for (const [name, s] of Object.entries(services)) {
      for (const dep of Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {})) {
        expect(services, `${name} depends on ${dep}`).to.have.property(dep);
      }
      for (const v of s.volumes ?? []) expect(existsSync(join(root, v.split(':')[0])), `${name}: ${v}`).to.equal(true);
    }
    checkRouterArgs(services.router.command);
    const sims = Object.entries(services).filter(([n]) => n.startsWith('sim-'));
    for (const [, s] of sims) expect(() => parseSimArgs(s.command)).not.to.throw();
    const simIps = sims.map(([, s]) => s.networks.fleet.ipv4_address).sort();

    const resources = docs('manifests/compose/resources.yaml').map((o) => parseResource(o)!);
    const podIps = resources.filter((r) => r.kind === 'Pod').map((r: any) => r.podIP).sort();
    expect(podIps).to.deep.equal(simIps);
    expect(() => parseConfig(parse(read('manifests/compose/config.yaml')))).not.to.throw();

    const envoy = parse(read('envoy/envoy-compose.yaml'));
    const clusters = envoy.static_resources.clusters as any[];
    const models = clusters.find((c) => c.name === 'model_servers');
    const envoyIps = models.load_assignment.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address.address).sort();
    expect(envoyIps).to.deep.equal(simIps);
    const picker = clusters.find((c) => c.name === 'kthena_router').load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    expect(services).to.have.property(picker.address);
    expect(services.router.command).to.include(`--grpc-port=${picker.port_value}`);
  });
});
