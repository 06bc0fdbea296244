// Test objects, written the way users write them.

export const KTHENA = 'networking.serving.volcano.sh/v1alpha1';

export function namespace(name: string) {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name } };
}

export function pod(ns: string, name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { namespace: ns, name, labels },
    spec: { containers: [{ name: 'engine', image: 'vllm/vllm-openai:latest', ports: [{ containerPort: 8000 }] }] },
  };
}

export function modelServer(ns: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: KTHENA,
    kind: 'ModelServer',
    metadata: { namespace: ns, name },
    spec: {
      model: 'meta-llama/Llama-3.1-8B-Instruct',
      inferenceEngine: 'vLLM',
      workloadSelector: { matchLabels: { app: 'llama' } },
      workloadPort: { port: 8000 },
      ...spec,
    },
  };
}

export function modelRoute(ns: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: KTHENA,
    kind: 'ModelRoute',
    metadata: { namespace: ns, name },
    spec: { modelName: 'llama', rules: [{ name: 'all', targetModels: [{ modelServerName: 'llama' }] }], ...spec },
  };
}

export function provider(ns: string, name: string, secret: string) {
  return {
    apiVersion: KTHENA,
    kind: 'ExternalModelProvider',
    metadata: { namespace: ns, name },
    spec: {
      providerType: 'OpenAI',
      model: 'gpt-4o-mini',
      baseURL: 'https://api.example.com/v1',
      auth: { scheme: 'Bearer', secretRef: { name: secret, key: 'apiKey' } },
    },
  };
}

export function secret(ns: string, name: string, apiKey: string) {
  return { apiVersion: 'v1', kind: 'Secret', metadata: { namespace: ns, name }, stringData: { apiKey } };
}

export function inferencePool(ns: string, name: string, labels: Record<string, string>) {
  return {
    apiVersion: 'inference.networking.k8s.io/v1',
    kind: 'InferencePool',
    metadata: { namespace: ns, name },
    spec: {
      selector: { matchLabels: labels },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: { name: 'kthena-router', port: { number: 9002 } },
    },
  };
}

export function inferenceObjective(ns: string, name: string, spec: Record<string, unknown> = {}) {
  return {
    apiVersion: 'inference.networking.x-k8s.io/v1alpha2',
    kind: 'InferenceObjective',
    metadata: { namespace: ns, name },
    spec,
  };
}
