// Resources and router configuration for the spill-over tests: route `mixed` targets the `local` ModelServer and the
// `openai` ExternalModelProvider; spill-over reserves the provider for overflow once the pod queues one request.

export const SPILL_CONFIG = (caFile: string) => `
metrics: {scrapeIntervalMs: 50}
providers: {caFile: ${caFile}}
spillOver:
  routes:
    default/mixed: {providers: [openai], saturation: {queueDepth: 1}}
`;

export function spillResources(pod: { ip: string; port: number }, providerOrigin: string, key: string): string {
  return `apiVersion: v1
kind: Secret
metadata: {name: openai-key, namespace: default}
stringData: {apiKey: ${key}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata: {name: openai, namespace: default}
spec:
  providerType: OpenAI
  model: gpt-4o-mini
  baseURL: ${providerOrigin}/v1
  auth: {scheme: Bearer, secretRef: {name: openai-key, key: apiKey}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata: {name: local, namespace: default}
spec:
  model: llama
  inferenceEngine: vLLM
  workloadSelector: {matchLabels: {app: local}}
  workloadPort: {port: ${pod.port}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: mixed, namespace: default}
spec:
  modelName: mixed
  rules: [{targetModels: [{modelServerName: local, weight: 50}, {externalModelProviderName: openai, weight: 50}]}]
  rateLimit: {requestsPerUnit: 6, unit: minute}
---
apiVersion: v1
kind: Pod
metadata: {name: local-0, namespace: default, labels: {app: local}}
status: {podIP: ${pod.ip}, conditions: [{type: Ready, status: "True"}]}
`;
}

/** Resolves once the pod's engine reports a waiting request (it is saturated); the router then needs a few scrapes. */
export async function untilQueued(pod: { ip: string; port: number }): Promise<void> {
  const deadline = Date.now() + 10_000;
  while (!/vllm:num_requests_waiting\{[^}]*\} [1-9]/.test(await (await fetch(`http://${pod.ip}:${pod.port}/metrics`)).text())) {
    if (Date.now() > deadline) throw new Error('the pod never queued');
    await new Promise((r) => setTimeout(r, 50));
  }
}
