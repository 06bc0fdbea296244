import type { RouterConfig } from '../config/config.js';
import type { Datastore } from '../datastore/datastore.js';
import type { Endpoint } from '../datastore/endpoint.js';
import type { EjectionView } from '../providers/outlier-detector.js';
import { providerKey } from '../providers/resolve.js';

/** What the read-only debug endpoints show: the effective configuration and the live routing state. */
export interface DebugSources {
  config: RouterConfig;
  datastore: Datastore;
  ejections?: EjectionView;
}

export type DebugPath = '/debug/config' | '/debug/endpoints' | '/debug/routes';
export const DEBUG_PATHS: readonly DebugPath[] = ['/debug/config', '/debug/endpoints', '/debug/routes'];

export function debugDocument(path: DebugPath, src: DebugSources): unknown {
  if (path === '/debug/config') return redact(src.config);
  if (path === '/debug/endpoints') return { endpoints: [...src.datastore.allEndpoints()].map((e) => endpointView(e, src.ejections)) };
  return routesView(src);
}

// Configuration keys whose values are credentials: shown as "[redacted]" whatever their type.
const SECRET_KEY = /^(key|secret|password|token|credentials?)$|(Key|Secret|Password|Token)$/i;

/** A JSON-safe copy of the configuration with every credential replaced; Maps become objects. */
export function redact(value: unknown, key = ''): unknown {
  if (value === undefined || value === null) return value;
  if (key && SECRET_KEY.test(key)) return '[redacted]';
  if (typeof value === 'string') return redactUrl(value);
  if (value instanceof Map) return redact(Object.fromEntries(value));
  if (value instanceof Set) return redact([...value]);
  if (Buffer.isBuffer(value) || value instanceof Uint8Array) return '[redacted]';
  if (Array.isArray(value)) return value.map((v) => redact(v));
  if (typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = redact(v, k);
    return out;
  }
  if (typeof value === 'function') return undefined;
  return value;
}

/** `redis://user:pass@host` → `redis://user:[redacted]@host`. */
function redactUrl(s: string): string {
  return s.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:[redacted]@');
}

function endpointView(e: Endpoint, ejections: EjectionView | undefined) {
  const { metrics, updatedAt, stale, lastError } = e.state;
  return {
    address: e.address,
    pod: `${e.namespace}/${e.podName}`,
    engine: e.engine,
    inflight: e.inflight,
    picksSinceScrape: e.picksSinceScrape,
    ejected: ejections?.isEjected(e.address) ?? false,
    metrics: {
      stale,
      lastScrape: updatedAt > 0 ? new Date(updatedAt).toISOString() : null,
      ageMs: updatedAt > 0 ? Date.now() - updatedAt : null,
      ...(lastError !== undefined && { lastError }),
      values: metrics ?? null,
    },
  };
}

/** Every ModelRoute with its rules' targets resolved to ready endpoints (or the provider), and every InferencePool. */
function routesView({ datastore: ds, ejections }: DebugSources) {
  const eps = (list: Endpoint[]) => list.map((e) => ({ address: e.address, pod: e.podName, ejected: ejections?.isEjected(e.address) ?? false }));
  const routes = ds.routes().map((r) => ({
    name: `${r.metadata.namespace}/${r.metadata.name}`,
    modelName: r.spec.modelName,
    loraAdapters: r.spec.loraAdapters ?? [],
    rules: r.spec.rules.map((rule, i) => ({
      name: rule.name ?? `rule-${i}`,
      modelMatch: rule.modelMatch ?? null,
      targets: rule.targetModels.map((t) => {
        const ns = r.metadata.namespace;
        if (t.externalModelProviderName) {
          const provider = ds.provider(ns, t.externalModelProviderName);
          return {
            externalModelProvider: `${ns}/${t.externalModelProviderName}`,
            weight: t.weight,
            found: provider !== undefined,
            ejected: ejections?.isEjected(providerKey(ns, t.externalModelProviderName)) ?? false,
          };
        }
        const server = ds.modelServer(ns, t.modelServerName!);
        return {
          modelServer: `${ns}/${t.modelServerName}`,
          weight: t.weight,
          found: server !== undefined,
          upstreamModel: server?.spec.model ?? null,
          endpoints: eps(ds.endpointsForServer(ns, t.modelServerName!)),
        };
      }),
    })),
  }));
  const pools = ds.list('InferencePool').map((p) => ({
    name: `${p.metadata.namespace}/${p.metadata.name}`,
    endpoints: eps(ds.endpointsForPool(p.metadata.namespace, p.metadata.name)),
  }));
  return { routes, inferencePools: pools };
}
