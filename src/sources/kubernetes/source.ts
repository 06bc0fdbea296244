import { hostname } from 'node:os';
import { logger } from '../../observability/logger.js';
import { ResourceError, parseResource } from '../../resources/parse.js';
import { crdDefinitions } from '../../resources/schema.js';
import type { ExternalModelProviderResource, InferencePoolResource, Resource, ResourceKind } from '../../resources/types.js';
import type { ResourceSink, ResourceSource } from '../types.js';
import { KubeClient } from './kube-client.js';
import { LeaderElector } from './leader-election.js';
import { invalidObjectsTotal } from './metrics.js';
import { Reflector, type WatchTuning } from './reflector.js';
import { StatusWriter, type StatusTarget } from './status-writer.js';
import {
  followsPool,
  poolPodCollection,
  secretCollection,
  watchedCollections,
  type ScopeOptions,
  type WatchedCollection,
} from './watched-kinds.js';

export interface KubernetesSourceOptions extends ScopeOptions, WatchTuning {
  /** Path of a kubeconfig file; ignored with inCluster. Neither: KUBECONFIG or ~/.kube/config. */
  kubeconfig?: string;
  /** Use the pod's service account (KUBERNETES_SERVICE_HOST/PORT and the mounted token). */
  inCluster?: boolean;
  /**
   * Write `Accepted` status conditions on Kthena objects, from one replica elected on this Lease (default namespace:
   * the watched one, else the kubeconfig context's). Identity defaults to $POD_NAME, else the host name. Without it
   * the source only reads.
   */
  leaderElection?: { leaseName: string; leaseNamespace?: string; identity?: string; leaseDurationSeconds?: number; retryPeriodMs?: number };
}

const log = logger.child({ component: 'kubernetes' });
const statusTargets = new Map<string, StatusTarget>(
  crdDefinitions.map((c) => [c.kind, { apiVersion: `${c.group}/${c.version}`, plural: c.plural }]),
);

interface Feed {
  collection: WatchedCollection;
  reflector: Reflector;
  /** Valid objects of this collection by namespace/name. */
  objects: Map<string, Resource>;
}

/**
 * Resources from a Kubernetes API server: list+watch of Pods, ModelServers, ModelRoutes, ExternalModelProviders,
 * InferencePools, InferenceObjectives and the Secrets that providers reference, fed into the same sink as the file
 * source. start() resolves once every collection has been listed. Objects that fail validation are skipped (and, with
 * leader election, Kthena's own objects are marked Accepted=False).
 */
export class KubernetesSource implements ResourceSource {
  readonly name = 'kubernetes';
  private readonly client: KubeClient;
  private readonly feeds = new Map<string, Feed>();
  private sink: ResourceSink | undefined;
  private status: StatusWriter | undefined;
  private elector: LeaderElector | undefined;
  private stopping = false;
  private resolveStopped!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.resolveStopped = r));
  /** Watched namespace; undefined: all. */
  readonly namespace: string | undefined;

  constructor(private readonly opts: KubernetesSourceOptions) {
    this.client = KubeClient.load(opts);
    this.namespace = opts.allNamespaces ? undefined : opts.namespace ?? this.client.contextNamespace ?? 'default';
  }

  /** True once every collection (including referenced Secrets) has been listed. */
  get synced(): boolean {
    return this.feeds.size > 0 && [...this.feeds.values()].every((f) => f.reflector.hasSynced);
  }

  async start(sink: ResourceSink): Promise<void> {
    this.sink = sink;
    const le = this.opts.leaderElection;
    if (le) this.status = new StatusWriter(this.client, log);
    for (const c of watchedCollections(this.opts, this.namespace)) this.addFeed(c);
    await this.untilSynced();
    // Referenced Secrets (and, in InferencePool mode, the pool's Pods) are known once providers and pools are listed;
    // wait for those too.
    await this.untilSynced();
    if (this.stopping) return;
    if (le && this.status) {
      const status = this.status;
      const namespace = le.leaseNamespace ?? this.namespace ?? this.client.contextNamespace ?? 'default';
      this.elector = new LeaderElector(
        this.client,
        { ...le, leaseNamespace: namespace, identity: le.identity ?? process.env.POD_NAME ?? hostname() },
        { onStartedLeading: () => status.setLeader(true), onStoppedLeading: () => status.setLeader(false) },
        log,
      );
      this.elector.start();
    }
    log.info({ collections: this.feeds.size, namespace: this.namespace ?? '(all)' }, 'kubernetes source synced');
  }

  async stop(): Promise<void> {
    this.stopping = true;
    this.resolveStopped();
    await this.elector?.stop();
    await this.status?.stop();
    await Promise.all([...this.feeds.values()].map((f) => f.reflector.stop()));
  }

  private async untilSynced(): Promise<void> {
    await Promise.race([Promise.all([...this.feeds.values()].map((f) => f.reflector.synced)), this.stopped]);
  }

  private addFeed(collection: WatchedCollection): void {
    // The handlers run only after start(), by which time feed is assigned.
    let feed: Feed;
    const reflector = new Reflector(
      this.client,
      { ...this.opts, ...collection },
      { replace: (items) => this.onReplace(feed, items), event: (type, obj) => this.onEvent(feed, type, obj) },
      log,
    );
    feed = { collection, reflector, objects: new Map() };
    this.feeds.set(collection.resource, feed);
    reflector.start();
  }

  private onReplace(feed: Feed, items: Record<string, any>[]): void {
    const next = new Map<string, Resource>();
    for (const item of items) {
      const r = this.parse(item);
      if (r) next.set(key(r.metadata.namespace, r.metadata.name), r);
    }
    feed.objects = next;
    this.publishKind(feed.collection.kind);
    if (feed.collection.kind === 'ExternalModelProvider') this.followSecrets();
    if (feed.collection.kind === 'InferencePool') this.followPoolPods();
  }

  private onEvent(feed: Feed, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: Record<string, any>): void {
    const ns: string = obj.metadata?.namespace ?? 'default';
    const name: string = obj.metadata?.name ?? '';
    const k = key(ns, name);
    const kind = feed.collection.kind;
    const r = type === 'DELETED' ? undefined : this.parse(obj);
    if (type === 'DELETED') {
      const target = statusTargets.get(kind);
      if (target) this.status?.forget(target.plural, ns, name);
    }
    if (r) {
      feed.objects.set(k, r);
      this.sink!.upsert(r);
    } else if (feed.objects.delete(k)) {
      // Another collection of the same kind (InferencePool v1 and v1alpha2) may still hold this name.
      const other = [...this.feeds.values()].find((f) => f !== feed && f.collection.kind === kind && f.objects.has(k));
      if (other) this.sink!.upsert(other.objects.get(k)!);
      else this.sink!.remove(kind, ns, name);
    }
    if (kind === 'ExternalModelProvider') this.followSecrets();
    if (kind === 'InferencePool') this.followPoolPods();
  }

  /** Parses one API object; invalid objects are reported and skipped. */
  private parse(obj: Record<string, any>): Resource | undefined {
    const target = statusTargets.get(obj.kind);
    try {
      const r = parseResource(obj);
      if (r && target) this.status?.observe(target, obj);
      return r;
    } catch (err) {
      // ResourceError names the object; anything else is still this object's fault as far as the watch goes.
      const message = err instanceof ResourceError ? err.message : `${obj.kind} ${obj.metadata?.namespace}/${obj.metadata?.name}: ${String(err)}`;
      invalidObjectsTotal.inc({ kind: String(obj.kind) });
      log.warn({ err: message }, 'ignoring invalid object');
      if (target) this.status?.observe(target, obj, message);
      return undefined;
    }
  }

  private publishKind(kind: ResourceKind): void {
    const all: Resource[] = [];
    for (const f of this.feeds.values()) if (f.collection.kind === kind) all.push(...f.objects.values());
    this.sink!.replace([kind], all);
  }

  /**
   * InferencePool mode without --pod-selector: keeps one Pod watch, label-selected by the pool's current selector, and
   * none while the pool does not exist (its Pods are then published as gone).
   */
  private followPoolPods(): void {
    const ref = this.opts.pool;
    if (this.stopping || !ref || !followsPool(this.opts)) return;
    const k = key(ref.namespace, ref.name);
    let pool: InferencePoolResource | undefined;
    for (const f of this.feeds.values()) {
      if (f.collection.kind === 'InferencePool' && f.objects.has(k)) pool = f.objects.get(k) as InferencePoolResource;
    }
    const wanted = pool ? poolPodCollection(ref.namespace, pool.spec.selector) : undefined;
    let removed = false;
    for (const [id, feed] of this.feeds) {
      if (feed.collection.kind !== 'Pod' || id === wanted?.resource) continue;
      this.feeds.delete(id);
      void feed.reflector.stop();
      removed = true;
    }
    // On a selector change the new watch's first list replaces the Pods (no gap with none); without a pool they go.
    if (removed && !wanted) this.publishKind('Pod');
    if (wanted && !this.feeds.has(wanted.resource)) {
      log.info({ pool: k, labelSelector: wanted.labelSelector }, 'watching the pool\'s pods');
      this.addFeed(wanted);
    }
  }

  /** Keeps one single-Secret watch per Secret that an ExternalModelProvider references, and none other. */
  private followSecrets(): void {
    if (this.stopping) return;
    const wanted = new Map<string, WatchedCollection>();
    for (const f of this.feeds.values()) {
      if (f.collection.kind !== 'ExternalModelProvider') continue;
      for (const p of f.objects.values() as Iterable<ExternalModelProviderResource>) {
        const ref = p.spec.auth?.secretRef;
        if (ref) {
          const c = secretCollection(p.metadata.namespace, ref.name);
          wanted.set(c.resource, c);
        }
      }
    }
    let removed = false;
    for (const [id, feed] of this.feeds) {
      if (feed.collection.kind !== 'Secret' || wanted.has(id)) continue;
      this.feeds.delete(id);
      void feed.reflector.stop();
      removed = true;
    }
    if (removed) this.publishKind('Secret');
    for (const [id, c] of wanted) if (!this.feeds.has(id)) this.addFeed(c);
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
