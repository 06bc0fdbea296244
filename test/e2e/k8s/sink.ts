import type { Resource, ResourceKind } from '../../../src/resources/types.js';
import type { ResourceSink } from '../../../src/sources/types.js';

/** A sink that keeps what a source told it, for assertions. */
export class RecordingSink implements ResourceSink {
  readonly objects = new Map<string, Resource>();
  readonly replaced: ResourceKind[] = [];

  upsert(r: Resource): void {
    this.objects.set(id(r.kind, r.metadata.namespace, r.metadata.name), r);
  }

  remove(kind: ResourceKind, namespace: string, name: string): void {
    this.objects.delete(id(kind, namespace, name));
  }

  replace(kinds: ResourceKind[], objects: Resource[]): void {
    for (const [k, r] of this.objects) if (kinds.includes(r.kind)) this.objects.delete(k);
    for (const r of objects) this.upsert(r);
    this.replaced.push(...kinds);
  }

  get<K extends ResourceKind>(kind: K, namespace: string, name: string): Extract<Resource, { kind: K }> | undefined {
    return this.objects.get(id(kind, namespace, name)) as Extract<Resource, { kind: K }> | undefined;
  }
}

function id(kind: string, namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** Retries an assertion until it passes or the deadline expires (then rethrows its last failure). */
export async function eventually(check: () => unknown, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
