import type { Resource, ResourceKind } from '../resources/types.js';

// What a resource source (static files, Kubernetes) tells the datastore. Each source gets its own sink, so objects
// from different sources never overwrite each other's bookkeeping. Sources parse raw objects with `parseResource`
// from ../resources/parse.ts so that every source validates the same way.
export interface ResourceSink {
  /** Add or replace one object. */
  upsert(resource: Resource): void;
  /** Remove one object; unknown objects are ignored. */
  remove(kind: ResourceKind, namespace: string, name: string): void;
  /** Replace every object of `kinds` from this source with `objects` (initial list, relist after 410, reload). */
  replace(kinds: ResourceKind[], objects: Resource[]): void;
}

export interface ResourceSource {
  readonly name: string;
  /** Starts loading; resolves after the initial load/sync. */
  start(sink: ResourceSink): Promise<void>;
  stop(): Promise<void>;
}
