import type { Datastore } from '../datastore/datastore.js';
import { routeResolves } from './route-references.js';
import type { RejectDecision } from './types.js';

/**
 * GET /v1/models answered by the router itself: every model name and LoRA adapter that some ModelRoute serves, in
 * OpenAI's list format. One pod would only know its own model. A route none of whose targets exists is left out.
 */
export function modelList(ds: Datastore): RejectDecision {
  const seen = new Map<string, { created: number; owner: string }>();
  for (const r of ds.routes()) {
    if (!routeResolves(ds, r)) continue;
    const created = Math.floor(r.metadata.creationTimestamp / 1000);
    for (const id of [r.spec.modelName, ...r.spec.loraAdapters]) {
      if (id && !seen.has(id)) seen.set(id, { created, owner: r.metadata.namespace });
    }
  }
  const data = [...seen].map(([id, m]) => ({ id, object: 'model', created: m.created, owned_by: m.owner }));
  return {
    kind: 'reject',
    status: 200,
    body: Buffer.from(JSON.stringify({ object: 'list', data })),
    headers: { 'content-type': 'application/json' },
  };
}
