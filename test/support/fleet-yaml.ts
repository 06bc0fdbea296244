// Resource YAML for tests that start the router as a process, written the way users write it.

const KTHENA = 'networking.serving.volcano.sh/v1alpha1';

/** A ModelServer selecting pods labelled `app: <app>`; `spec` adds raw YAML lines under `spec:` (2-space indent). */
export function modelServerYaml(
  name: string,
  o: { port: number; engine?: string; model?: string; app?: string; spec?: string[] },
): string {
  return [
    `apiVersion: ${KTHENA}`,
    'kind: ModelServer',
    `metadata: {name: ${name}}`,
    'spec:',
    ...(o.model ? [`  model: ${o.model}`] : []),
    `  inferenceEngine: ${o.engine ?? 'vLLM'}`,
    `  workloadSelector: {matchLabels: {app: ${o.app ?? name}}}`,
    `  workloadPort: {port: ${o.port}}`,
    ...(o.spec ?? []),
  ].join('\n');
}

/** A ModelRoute sending `model` to one ModelServer; `spec` adds raw YAML lines under `spec:`. */
export function modelRouteYaml(model: string, server: string, spec: string[] = []): string {
  return [
    `apiVersion: ${KTHENA}`,
    'kind: ModelRoute',
    `metadata: {name: ${model}}`,
    'spec:',
    `  modelName: ${model}`,
    `  rules: [{targetModels: [{modelServerName: ${server}}]}]`,
    ...spec,
  ].join('\n');
}

/** A Pod as the kubelet reports it once Ready. */
export function podYaml(name: string, ip: string, app: string): string {
  return [
    'apiVersion: v1',
    'kind: Pod',
    `metadata: {name: ${name}, labels: {app: ${app}}}`,
    `status: {podIP: ${ip}, conditions: [{type: Ready, status: "True"}]}`,
  ].join('\n');
}

export function documents(...docs: string[]): string {
  return docs.join('\n---\n') + '\n';
}
