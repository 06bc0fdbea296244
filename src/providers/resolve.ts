import type { Datastore } from '../datastore/datastore.js';
import type { ExternalModelProviderResource } from '../resources/types.js';

/** An ExternalModelProvider ready to take traffic: its upstream address and its credential. */
export interface ResolvedProvider {
  /** `provider:<ns>/<name>`: the routing group and the outlier-detection target. */
  key: string;
  /** `<ns>/<name>`, the value of the provider-selection header Envoy routes on. */
  ref: string;
  resource: ExternalModelProviderResource;
  base: URL;
  /** `host:port`, the destination named to the gateway. */
  address: string;
  /** Host as sent in `:authority` (the port only when not 443). */
  authority: string;
  /** The Secret's value; undefined when the provider has no `auth`. */
  credential?: string;
}

export interface UnavailableProvider {
  unavailable: string;
}

export const providerKey = (namespace: string, name: string) => `provider:${namespace}/${name}`;

/**
 * Looks up a provider and its Secret (same namespace, as in Kubernetes). A provider whose Secret or key is missing is
 * unavailable, like a ModelServer without ready pods: routing falls through to the next target.
 */
export function resolveProvider(ds: Datastore, namespace: string, name: string): ResolvedProvider | UnavailableProvider {
  const resource = ds.provider(namespace, name);
  if (!resource) return { unavailable: `ExternalModelProvider ${namespace}/${name} does not exist` };
  let base: URL;
  try {
    base = new URL(resource.spec.baseURL);
  } catch {
    return { unavailable: `ExternalModelProvider ${namespace}/${name} has an invalid baseURL` };
  }
  if (base.protocol !== 'https:') return { unavailable: `ExternalModelProvider ${namespace}/${name}: baseURL must be https` };
  let credential: string | undefined;
  const auth = resource.spec.auth;
  if (auth) {
    const secret = ds.secret(namespace, auth.secretRef.name);
    credential = secret?.data[auth.secretRef.key]?.trim();
    if (!credential) {
      return { unavailable: `ExternalModelProvider ${namespace}/${name}: Secret ${auth.secretRef.name} has no key "${auth.secretRef.key}"` };
    }
  }
  const port = base.port === '' ? 443 : Number(base.port);
  return {
    key: providerKey(namespace, name),
    ref: `${namespace}/${name}`,
    resource,
    base,
    address: `${base.hostname}:${port}`,
    authority: base.host,
    credential,
  };
}
