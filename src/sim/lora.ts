// LoRA adapter slots, like vLLM's --max-loras: at most maxLoras adapters are resident on the "GPU" and at most
// maxLoras distinct adapters run in one batch. A request for a non-resident adapter needs a slot: an idle
// resident adapter (no running request) is evicted, least recently used first, and the newcomer pays a load cost.
// An adapter with running requests is never evicted.

export class LoraSlots {
  private readonly resident = new Map<string, true>(); // LRU order: oldest first
  private readonly active = new Map<string, number>(); // adapter → running requests
  private loads = 0;

  constructor(
    readonly adapters: ReadonlySet<string>,
    readonly maxLoras: number,
  ) {
    if (!Number.isInteger(maxLoras) || maxLoras < 1) throw new RangeError('maxLoras must be a positive integer');
  }

  /** Whether a request for `name` may join the running batch now. */
  canRun(name: string): boolean {
    return this.active.has(name) || this.active.size < this.maxLoras;
  }

  /** Counts a running request for `name`; returns true when the adapter had to be loaded into a slot. */
  activate(name: string): boolean {
    if (!this.adapters.has(name)) throw new RangeError(`unknown LoRA adapter ${name}`);
    if (!this.canRun(name)) throw new Error(`no LoRA slot for ${name}`);
    this.active.set(name, (this.active.get(name) ?? 0) + 1);
    const wasResident = this.resident.delete(name);
    if (!wasResident && this.resident.size >= this.maxLoras) this.evictIdle();
    this.resident.set(name, true);
    if (!wasResident) this.loads++;
    return !wasResident;
  }

  /** A running request for `name` finished, was preempted or aborted. */
  deactivate(name: string): void {
    const n = this.active.get(name);
    if (n === undefined) throw new Error(`LoRA adapter ${name} is not active`);
    if (n > 1) this.active.set(name, n - 1);
    else this.active.delete(name);
  }

  residentAdapters(): string[] {
    return [...this.resident.keys()];
  }

  activeAdapters(): string[] {
    return [...this.active.keys()];
  }

  /** Adapter loads so far. */
  get loadCount(): number {
    return this.loads;
  }

  private evictIdle(): void {
    for (const name of this.resident.keys()) {
      if (!this.active.has(name)) {
        this.resident.delete(name);
        return;
      }
    }
    throw new Error('all LoRA slots hold running adapters');
  }
}
