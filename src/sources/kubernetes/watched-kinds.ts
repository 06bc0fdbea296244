import { crdDefinitions, INFERENCE_OBJECTIVE_GROUP } from '../../resources/schema.js';
import type { ResourceKind } from '../../resources/types.js';

/** One collection to list+watch: where it lives and what the items are. */
export interface WatchedCollection {
  kind: ResourceKind;
  /** For logs and metrics. */
  resource: string;
  apiVersion: string;
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export interface ScopeOptions {
  /** Namespace to watch; default: the kubeconfig context's (in-cluster: the pod's), else "default". */
  namespace?: string;
  /** Watch every namespace (needs cluster-wide RBAC). */
  allNamespaces?: boolean;
  /** Label selector for Pods (e.g. "app.kubernetes.io/component=model-server"); other kinds are not filtered. */
  podSelector?: string;
  /** Also watch InferencePools of the older inference.networking.x-k8s.io/v1alpha2 API. */
  inferencePoolV1alpha2?: boolean;
  /**
   * InferencePool mode: with no podSelector, only this pool's Pods are watched, selected by the pool's
   * spec.selector (the watch follows the pool: see poolPodCollection).
   */
  pool?: { namespace: string; name: string };
}

/** Path of a collection: /api/v1[/namespaces/NS]/pods or /apis/GROUP/VERSION[/namespaces/NS]/PLURAL. */
export function collectionPath(apiVersion: string, plural: string, namespace?: string): string {
  const base = apiVersion.includes('/') ? `/apis/${apiVersion}` : `/api/${apiVersion}`;
  return namespace ? `${base}/namespaces/${encodeURIComponent(namespace)}/${plural}` : `${base}/${plural}`;
}

/** The collections the router follows in namespace ns (undefined: all); Secrets are watched one by one, only those that providers reference. */
export function watchedCollections(scope: ScopeOptions, ns: string | undefined): WatchedCollection[] {
  const out: WatchedCollection[] = [];
  if (!followsPool(scope)) {
    out.push({ kind: 'Pod', resource: 'pods', apiVersion: 'v1', path: collectionPath('v1', 'pods', ns), labelSelector: scope.podSelector });
  }
  for (const crd of crdDefinitions) {
    const apiVersion = `${crd.group}/${crd.version}`;
    out.push({ kind: crd.kind, resource: crd.plural, apiVersion, path: collectionPath(apiVersion, crd.plural, ns) });
  }
  const pools = ['inference.networking.k8s.io/v1'];
  if (scope.inferencePoolV1alpha2) pools.push('inference.networking.x-k8s.io/v1alpha2');
  for (const apiVersion of pools) {
    out.push({
      kind: 'InferencePool',
      resource: `inferencepools.${apiVersion.split('/')[0]}`,
      apiVersion,
      path: collectionPath(apiVersion, 'inferencepools', ns),
    });
  }
  // Always followed, like InferencePools: without the Gateway API Inference Extension's CRD the list is 404, which
  // the reflector treats as empty until the CRD appears.
  const objectives = `${INFERENCE_OBJECTIVE_GROUP}/v1alpha2`;
  out.push({
    kind: 'InferenceObjective',
    resource: 'inferenceobjectives',
    apiVersion: objectives,
    path: collectionPath(objectives, 'inferenceobjectives', ns),
  });
  return out;
}

/** The single-Secret "collection" for a referenced Secret (field-selected, so RBAC may restrict by resourceNames). */
export function secretCollection(namespace: string, name: string): WatchedCollection {
  return {
    kind: 'Secret',
    resource: `secret/${namespace}/${name}`,
    apiVersion: 'v1',
    path: collectionPath('v1', 'secrets', namespace),
    fieldSelector: `metadata.name=${name}`,
  };
}

/** True when the Pod watch is the pool's (InferencePool mode and no explicit --pod-selector). */
export function followsPool(scope: ScopeOptions): boolean {
  return scope.pool !== undefined && scope.podSelector === undefined;
}

/**
 * The Pods of an InferencePool: its namespace, label-selected by its spec.selector (matchLabels), so a pool of 10 pods
 * in a namespace of 200 costs 10 pods of watch traffic and memory. The selector is part of the resource name, so a
 * changed selector is a different collection.
 */
export function poolPodCollection(namespace: string, selector: Record<string, string>): WatchedCollection {
  const labelSelector = Object.keys(selector)
    .sort()
    .map((k) => `${k}=${selector[k]}`)
    .join(',');
  return {
    kind: 'Pod',
    resource: `pods/${namespace}?${labelSelector}`,
    apiVersion: 'v1',
    path: collectionPath('v1', 'pods', namespace),
    labelSelector,
  };
}
