import type { Logger } from '../../observability/logger.js';
import { KubeApiError, type KubeClient } from './kube-client.js';
import { collectionPath } from './watched-kinds.js';

/** What the status subresource of a Kthena object must look like: one Accepted condition we own. */
interface Desired {
  path: string;
  status: 'True' | 'False';
  reason: string;
  message: string;
  generation?: number;
  current: Record<string, any>;
}

export interface StatusTarget {
  apiVersion: string;
  plural: string;
}

/**
 * Writes an `Accepted` condition on ModelServer/ModelRoute/ExternalModelProvider objects: True when the router loaded
 * the object, False with the validation message when it ignored it. Only the leader writes, and only when the
 * condition differs from what the object already carries, so replicas do not fight and updates do not loop.
 */
export class StatusWriter {
  private readonly desired = new Map<string, Desired>();
  private readonly queue = new Set<string>();
  private leader = false;
  private draining: Promise<void> | undefined;
  private stopped = false;
  private readonly unsupported = new Set<string>();

  constructor(
    private readonly client: KubeClient,
    private readonly log: Logger,
    private readonly retryMs = 5000,
  ) {}

  /** Records the outcome of loading one object (error = why it was ignored). */
  observe(target: StatusTarget, obj: Record<string, any>, error?: string): void {
    const meta = obj.metadata ?? {};
    const key = `${target.plural}/${meta.namespace}/${meta.name}`;
    const current = (obj.status?.conditions ?? []).find((c: any) => c?.type === 'Accepted') ?? {};
    const d: Desired = {
      path: `${collectionPath(target.apiVersion, target.plural, meta.namespace)}/${encodeURIComponent(meta.name)}/status`,
      status: error ? 'False' : 'True',
      reason: error ? 'Invalid' : 'Accepted',
      message: error ? error.slice(0, 1000) : 'Loaded by kthena-router',
      generation: typeof meta.generation === 'number' ? meta.generation : undefined,
      current: { conditions: obj.status?.conditions ?? [], accepted: current },
    };
    this.desired.set(key, d);
    if (this.needsWrite(d)) this.enqueue(key);
    else this.queue.delete(key);
  }

  forget(plural: string, namespace: string, name: string): void {
    const key = `${plural}/${namespace}/${name}`;
    this.desired.delete(key);
    this.queue.delete(key);
  }

  setLeader(leader: boolean): void {
    this.leader = leader;
    if (!leader) return;
    for (const [key, d] of this.desired) if (this.needsWrite(d)) this.queue.add(key);
    this.kick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    await this.draining;
  }

  private needsWrite(d: Desired): boolean {
    const c = d.current.accepted;
    return c.status !== d.status || c.reason !== d.reason || c.message !== d.message || c.observedGeneration !== d.generation;
  }

  private enqueue(key: string): void {
    this.queue.add(key);
    this.kick();
  }

  private kick(): void {
    if (!this.leader || this.stopped || this.draining) return;
    this.draining = this.drain().finally(() => {
      this.draining = undefined;
      if (this.queue.size > 0 && this.leader && !this.stopped) setTimeout(() => this.kick(), this.retryMs).unref();
    });
  }

  private async drain(): Promise<void> {
    const failed: string[] = [];
    while (this.leader && !this.stopped && this.queue.size > 0) {
      const key: string = this.queue.values().next().value!;
      this.queue.delete(key);
      const d = this.desired.get(key);
      if (!d || this.unsupported.has(key.split('/')[0]!)) continue;
      try {
        await this.write(d);
      } catch (err) {
        if (err instanceof KubeApiError && err.status === 404) continue; // deleted meanwhile
        if (err instanceof KubeApiError && (err.status === 403 || err.status === 405)) {
          this.unsupported.add(key.split('/')[0]!);
          this.log.warn({ resource: key.split('/')[0], err: err.message }, 'cannot write status for this resource; disabled');
          continue;
        }
        this.log.warn({ object: key, err: err instanceof Error ? err.message : String(err) }, 'status write failed');
        failed.push(key);
      }
    }
    for (const key of failed) this.queue.add(key);
  }

  private async write(d: Desired): Promise<void> {
    const old = d.current.accepted;
    const transition = old.status === d.status && old.lastTransitionTime ? old.lastTransitionTime : rfc3339(new Date());
    const condition = {
      type: 'Accepted',
      status: d.status,
      reason: d.reason,
      message: d.message,
      lastTransitionTime: transition,
      ...(d.generation !== undefined ? { observedGeneration: d.generation } : {}),
    };
    const others = (d.current.conditions as any[]).filter((c) => c?.type !== 'Accepted');
    await this.client.request('PATCH', d.path, {
      contentType: 'application/merge-patch+json',
      body: { status: { conditions: [...others, condition] } },
    });
    // Until the watch delivers the updated object, treat the condition as written.
    d.current = { conditions: [...others, condition], accepted: condition };
  }
}

function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}
