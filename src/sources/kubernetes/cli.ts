import type { KubernetesSourceOptions } from './source.js';

/**
 * Command-line flags of the Kubernetes source, in node:util parseArgs form; spread into the CLI's own options:
 *   --kubeconfig FILE | --in-cluster      where the API server is (either one turns the source on)
 *   --namespace NS | --all-namespaces     what to watch (default: $POD_NAMESPACE, else the kubeconfig context's
 *                                         namespace, else "default")
 *   --pod-selector SELECTOR               label selector for model-server Pods, e.g. "app=vllm"
 *   --inferencepool-v1alpha2              also watch inference.networking.x-k8s.io/v1alpha2 InferencePools
 *   --leader-elect                        write status conditions, from the replica that holds the Lease
 *   --lease-name NAME --lease-namespace NS  the Lease (default kthena-router in the pod's namespace)
 */
export const kubernetesCliOptions = {
  kubeconfig: { type: 'string' },
  'in-cluster': { type: 'boolean' },
  namespace: { type: 'string' },
  'all-namespaces': { type: 'boolean' },
  'pod-selector': { type: 'string' },
  'inferencepool-v1alpha2': { type: 'boolean' },
  'leader-elect': { type: 'boolean' },
  'lease-name': { type: 'string' },
  'lease-namespace': { type: 'string' },
} as const;

export interface KubernetesCliValues {
  kubeconfig?: string;
  'in-cluster'?: boolean;
  namespace?: string;
  'all-namespaces'?: boolean;
  'pod-selector'?: string;
  'inferencepool-v1alpha2'?: boolean;
  'leader-elect'?: boolean;
  'lease-name'?: string;
  'lease-namespace'?: string;
}

/**
 * Source options from parsed flags; undefined when neither --kubeconfig nor --in-cluster is given (no Kubernetes).
 * Throws Error with a usage message on contradictory flags.
 */
export function kubernetesOptionsFromCli(v: KubernetesCliValues, env = process.env): KubernetesSourceOptions | undefined {
  if (!v.kubeconfig && !v['in-cluster']) {
    const stray = ['namespace', 'all-namespaces', 'pod-selector', 'leader-elect'].filter((k) => (v as any)[k] !== undefined);
    if (stray.length === 0 || (stray.length === 1 && stray[0] === 'namespace')) return undefined;
    throw new Error(`--${stray[0]} needs --kubeconfig FILE or --in-cluster`);
  }
  if (v.kubeconfig && v['in-cluster']) throw new Error('use either --kubeconfig or --in-cluster, not both');
  if (v.namespace && v['all-namespaces']) throw new Error('use either --namespace or --all-namespaces, not both');
  return {
    kubeconfig: v.kubeconfig,
    inCluster: v['in-cluster'] ?? false,
    namespace: v.namespace ?? env.POD_NAMESPACE ?? undefined,
    allNamespaces: v['all-namespaces'] ?? false,
    podSelector: v['pod-selector'],
    inferencePoolV1alpha2: v['inferencepool-v1alpha2'] ?? false,
    leaderElection: v['leader-elect']
      ? { leaseName: v['lease-name'] ?? 'kthena-router', leaseNamespace: v['lease-namespace'] ?? env.POD_NAMESPACE ?? undefined }
      : undefined,
  };
}
