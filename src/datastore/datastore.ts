import type {
  ExternalModelProviderResource,
  InferenceObjectiveResource,
  InferencePoolResource,
  ModelRouteResource,
  ModelServerResource,
  PodResource,
  Resource,
  ResourceKind,
  SecretResource,
} from '../resources/types.js';
import type { ResourceSink } from '../sources/types.js';
import { formatAddress, type Endpoint } from './endpoint.js';
import { matchesLabels } from './labels.js';

type Listener = () => void;

interface Membership {
  /** ModelServer key or `pool:<ns>/<name>` → endpoints serving it. */
  byGroup: Map<string, Endpoint[]>;
}

const key = (namespace: string, name: string) => `${namespace}/${name}`;

/**
 * The live picture of the fleet: resources from every source, and the endpoints derived from them. Endpoint objects
 * are stable across resource changes (matched by address), so scraped metrics and in-flight counts survive updates.
 * Derived views are rebuilt lazily after a change, so a burst of watch events costs one rebuild.
 */
export class Datastore {
  private readonly bySource = new Map<string, Map<string, Resource>>();
  private readonly merged = new Map<ResourceKind, Map<string, Resource>>();
  private readonly endpoints = new Map<string, Endpoint>();
  private membership: Membership | undefined;
  private sortedRoutes: ModelRouteResource[] | undefined;
  private readonly listeners = new Set<Listener>();
  private version = 0;

  /**
   * `pool`: InferencePool mode. Only that pool's pods become endpoints (and so are scraped): requests are never sent
   * anywhere else, whatever other pools and ModelServers the namespace holds.
   */
  constructor(private readonly opts: { poolEngine?: string; pool?: { namespace: string; name: string } } = {}) {}

  sinkFor(source: string): ResourceSink {
    let own = this.bySource.get(source);
    if (!own) {
      own = new Map();
      this.bySource.set(source, own);
    }
    const objects = own;
    const id = (kind: string, ns: string, name: string) => `${kind}/${ns}/${name}`;
    return {
      upsert: (r) => {
        objects.set(id(r.kind, r.metadata.namespace, r.metadata.name), r);
        this.rebuildKind(r.kind);
      },
      remove: (kind, ns, name) => {
        if (objects.delete(id(kind, ns, name))) this.rebuildKind(kind);
      },
      replace: (kinds, list) => {
        for (const [k, r] of objects) if (kinds.includes(r.kind)) objects.delete(k);
        for (const r of list) objects.set(id(r.kind, r.metadata.namespace, r.metadata.name), r);
        for (const kind of kinds) this.rebuildKind(kind);
      },
    };
  }

  /** Called after every change (coalesced by the caller if needed). */
  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Increases on every change; cheap cache key for derived data. */
  get generation(): number {
    return this.version;
  }

  modelServer(namespace: string, name: string): ModelServerResource | undefined {
    return this.get('ModelServer', namespace, name) as ModelServerResource | undefined;
  }

  pool(namespace: string, name: string): InferencePoolResource | undefined {
    return this.get('InferencePool', namespace, name) as InferencePoolResource | undefined;
  }

  objective(namespace: string, name: string): InferenceObjectiveResource | undefined {
    return this.get('InferenceObjective', namespace, name) as InferenceObjectiveResource | undefined;
  }

  provider(namespace: string, name: string): ExternalModelProviderResource | undefined {
    return this.get('ExternalModelProvider', namespace, name) as ExternalModelProviderResource | undefined;
  }

  secret(namespace: string, name: string): SecretResource | undefined {
    return this.get('Secret', namespace, name) as SecretResource | undefined;
  }

  list<K extends ResourceKind>(kind: K): Array<Extract<Resource, { kind: K }>> {
    return [...(this.merged.get(kind)?.values() ?? [])] as Array<Extract<Resource, { kind: K }>>;
  }

  /** ModelRoutes, oldest first (ties by namespace/name), so the oldest claim on a model name wins. */
  routes(): ModelRouteResource[] {
    if (!this.sortedRoutes) {
      this.sortedRoutes = this.list('ModelRoute').sort(
        (a, b) =>
          a.metadata.creationTimestamp - b.metadata.creationTimestamp ||
          key(a.metadata.namespace, a.metadata.name).localeCompare(key(b.metadata.namespace, b.metadata.name)),
      );
    }
    return this.sortedRoutes;
  }

  endpointsForServer(namespace: string, name: string): Endpoint[] {
    return this.derive().byGroup.get(`server:${key(namespace, name)}`) ?? [];
  }

  endpointsForPool(namespace: string, name: string): Endpoint[] {
    return this.derive().byGroup.get(`pool:${key(namespace, name)}`) ?? [];
  }

  endpoint(address: string): Endpoint | undefined {
    this.derive();
    return this.endpoints.get(address);
  }

  allEndpoints(): Iterable<Endpoint> {
    this.derive();
    return this.endpoints.values();
  }

  private get(kind: ResourceKind, namespace: string, name: string): Resource | undefined {
    return this.merged.get(kind)?.get(key(namespace, name));
  }

  private rebuildKind(kind: ResourceKind): void {
    const merged = new Map<string, Resource>();
    for (const objects of this.bySource.values()) {
      for (const r of objects.values()) if (r.kind === kind) merged.set(key(r.metadata.namespace, r.metadata.name), r);
    }
    this.merged.set(kind, merged);
    if (kind === 'ModelRoute') this.sortedRoutes = undefined;
    if (kind === 'Pod' || kind === 'ModelServer' || kind === 'InferencePool') this.membership = undefined;
    this.version++;
    for (const l of this.listeners) l();
  }

  /** Recomputes which endpoints serve which ModelServer/InferencePool; keeps Endpoint objects by address. */
  private derive(): Membership {
    if (this.membership) return this.membership;
    const byGroup = new Map<string, Endpoint[]>();
    const live = new Set<string>();
    const servable = this.list('Pod').filter(isServable);
    const add = (group: string, pod: PodResource, port: number, engine: string, scheme: string) => {
      const ep = this.endpointFor(pod, port, engine, scheme);
      live.add(ep.address);
      let list = byGroup.get(group);
      if (!list) byGroup.set(group, (list = []));
      if (!list.includes(ep)) list.push(ep);
    };
    const only = this.opts.pool;
    for (const ms of only ? [] : this.list('ModelServer')) {
      const group = `server:${key(ms.metadata.namespace, ms.metadata.name)}`;
      byGroup.set(group, []);
      const sel = ms.spec.workloadSelector;
      for (const pod of servable) {
        if (pod.metadata.namespace !== ms.metadata.namespace) continue;
        if (!matchesLabels(pod.metadata.labels, sel.matchLabels)) continue;
        add(group, pod, ms.spec.workloadPort.port, ms.spec.inferenceEngine, ms.spec.workloadPort.protocol);
      }
    }
    for (const pool of this.list('InferencePool')) {
      if (only && (pool.metadata.namespace !== only.namespace || pool.metadata.name !== only.name)) continue;
      const group = `pool:${key(pool.metadata.namespace, pool.metadata.name)}`;
      byGroup.set(group, []);
      for (const pod of servable) {
        if (pod.metadata.namespace !== pool.metadata.namespace) continue;
        if (!matchesLabels(pod.metadata.labels, pool.spec.selector)) continue;
        for (const port of pool.spec.targetPorts) add(group, pod, port, this.opts.poolEngine ?? 'vLLM', 'http');
      }
    }
    for (const address of this.endpoints.keys()) if (!live.has(address)) this.endpoints.delete(address);
    this.membership = { byGroup };
    return this.membership;
  }

  private endpointFor(pod: PodResource, port: number, engine: string, scheme: string): Endpoint {
    const address = formatAddress(pod.podIP!, port);
    const existing = this.endpoints.get(address);
    if (existing && existing.podName === pod.metadata.name && existing.namespace === pod.metadata.namespace) {
      existing.labels = pod.metadata.labels;
      existing.engine = engine;
      return existing;
    }
    const ep: Endpoint = {
      address,
      ip: pod.podIP!,
      port,
      podName: pod.metadata.name,
      namespace: pod.metadata.namespace,
      labels: pod.metadata.labels,
      engine,
      metricsUrl: `${scheme}://${address}/metrics`,
      state: { updatedAt: 0, stale: true },
      inflight: 0,
      picksSinceScrape: 0,
    };
    this.endpoints.set(address, ep);
    return ep;
  }
}

/** Ready, not terminating, with an IP: the kubelet's view of a pod that can take traffic. */
function isServable(pod: PodResource): boolean {
  return pod.ready && pod.podIP !== undefined && pod.metadata.deletionTimestamp === undefined;
}
