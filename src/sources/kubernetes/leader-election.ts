import type { Logger } from '../../observability/logger.js';
import { sleep } from './backoff.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import { leaderGauge } from './metrics.js';

export interface LeaderElectionOptions {
  leaseName: string;
  leaseNamespace: string;
  /** Unique per replica; the pod name is the usual choice. */
  identity: string;
  leaseDurationSeconds?: number;
  /** How often the leader renews and followers retry. */
  retryPeriodMs?: number;
}

export interface LeaderCallbacks {
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease, in the manner of client-go: the holder renews renewTime; others
 * take over once they have seen the same record unchanged for leaseDurationSeconds (measured on their own clock, so
 * clock skew between replicas does not matter). Updates carry the resourceVersion, so two candidates cannot both win.
 */
export class LeaderElector {
  private readonly abort = new AbortController();
  private running: Promise<void> | undefined;
  private leading = false;
  private observed: { record: string; at: number } | undefined;
  private lastRenew = 0;

  constructor(
    private readonly client: KubeClient,
    private readonly opts: LeaderElectionOptions,
    private readonly callbacks: LeaderCallbacks,
    private readonly log: Logger,
  ) {}

  get isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    this.running ??= this.run();
  }

  /** Stops campaigning and, if leading, releases the Lease so that another replica takes over at once. */
  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
    if (this.leading) {
      await this.release().catch((err) => this.log.warn({ err: String(err) }, 'could not release the Lease'));
      this.setLeading(false);
    }
  }

  private get durationMs(): number {
    return (this.opts.leaseDurationSeconds ?? 15) * 1000;
  }

  private get path(): string {
    const { leaseNamespace, leaseName } = this.opts;
    return `/apis/coordination.k8s.io/v1/namespaces/${encodeURIComponent(leaseNamespace)}/leases/${encodeURIComponent(leaseName)}`;
  }

  private async run(): Promise<void> {
    const retry = this.opts.retryPeriodMs ?? 2000;
    while (!this.abort.signal.aborted) {
      try {
        const held = await this.tryAcquireOrRenew();
        if (held) this.lastRenew = Date.now();
        // false is definite: another replica holds a live lease (or won the race).
        this.setLeading(held);
      } catch (err) {
        this.log.warn({ err: err instanceof Error ? err.message : String(err) }, 'leader election: Lease update failed');
        // Unreachable API server: a leader steps down once it could not renew for 2/3 of the lease, before any
        // other replica may take over.
        if (this.leading && Date.now() - this.lastRenew > (this.durationMs * 2) / 3) this.setLeading(false);
      }
      await sleep(retry * (0.8 + 0.4 * Math.random()), this.abort.signal);
    }
  }

  private setLeading(leading: boolean): void {
    if (leading === this.leading) return;
    this.leading = leading;
    leaderGauge.set(leading ? 1 : 0);
    this.log.info({ lease: this.opts.leaseName, identity: this.opts.identity }, leading ? 'became leader' : 'lost leadership');
    if (leading) this.callbacks.onStartedLeading();
    else this.callbacks.onStoppedLeading();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = microTime(new Date());
    const durationSeconds = this.durationMs / 1000;
    let lease: Record<string, any>;
    try {
      lease = await this.client.request('GET', this.path, { signal: this.abort.signal });
    } catch (err) {
      if (!(err instanceof KubeApiError) || err.status !== 404) throw err;
      const created = {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: this.opts.leaseName, namespace: this.opts.leaseNamespace },
        spec: { holderIdentity: this.opts.identity, leaseDurationSeconds: durationSeconds, acquireTime: now, renewTime: now, leaseTransitions: 0 },
      };
      return this.write('POST', this.path.slice(0, this.path.lastIndexOf('/')), created);
    }
    const spec = lease.spec ?? {};
    const record = `${spec.holderIdentity ?? ''}|${spec.renewTime ?? ''}|${spec.acquireTime ?? ''}`;
    if (this.observed?.record !== record) this.observed = { record, at: Date.now() };
    const holder: string = spec.holderIdentity ?? '';
    const heldByOther = holder !== '' && holder !== this.opts.identity;
    const otherDurationMs = (spec.leaseDurationSeconds ?? durationSeconds) * 1000;
    if (heldByOther && Date.now() - this.observed.at < otherDurationMs) return false;
    const next = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.opts.identity,
        leaseDurationSeconds: durationSeconds,
        renewTime: now,
        acquireTime: holder === this.opts.identity ? spec.acquireTime ?? now : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === this.opts.identity ? 0 : 1),
      },
    };
    return this.write('PUT', this.path, next);
  }

  /** Create or update; a conflict means someone else wrote first. */
  private async write(method: 'POST' | 'PUT', path: string, body: unknown): Promise<boolean> {
    try {
      await this.client.request(method, path, { body, signal: this.abort.signal });
      return true;
    } catch (err) {
      if (err instanceof KubeApiError && (err.status === 409 || err.status === 422)) return false;
      throw err;
    }
  }

  private async release(): Promise<void> {
    const lease = await this.client.request('GET', this.path);
    if (lease.spec?.holderIdentity !== this.opts.identity) return;
    const now = microTime(new Date());
    lease.spec = { ...lease.spec, holderIdentity: null, leaseDurationSeconds: 1, renewTime: now };
    await this.client.request('PUT', this.path, { body: lease, timeoutMs: 5000 });
  }
}

/** metav1.MicroTime: RFC 3339 with microseconds. */
export function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
