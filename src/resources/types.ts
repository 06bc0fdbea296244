// Resource shapes shared by every source (YAML files, Kubernetes). Field names follow Kthena's
// networking.serving.volcano.sh/v1alpha1 objects and Gateway API Inference Extension's InferencePool and
// InferenceObjective so that users' YAML is accepted unchanged.

export interface ObjectMeta {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  /** Milliseconds since epoch; used to let the oldest ModelRoute win a model name. */
  creationTimestamp: number;
  resourceVersion?: string;
  uid?: string;
  deletionTimestamp?: number;
}

export interface StringMatch {
  exact?: string;
  prefix?: string;
  regex?: string;
}

export interface PodResource {
  kind: 'Pod';
  metadata: ObjectMeta;
  podIP?: string;
  ready: boolean;
  /** Container ports by name, for documentation only; targets come from ModelServer/InferencePool. */
  phase?: string;
}

export type InferenceEngine = 'vLLM' | 'SGLang' | 'TGI' | 'TRTLLM' | string;

export interface PDGroup {
  groupKey: string;
  prefillLabels: Record<string, string>;
  decodeLabels: Record<string, string>;
}

export interface RetryPolicy {
  attempts: number;
  retryIntervalMs: number;
}

export interface ModelServerResource {
  kind: 'ModelServer';
  metadata: ObjectMeta;
  spec: {
    model?: string;
    inferenceEngine: InferenceEngine;
    workloadSelector: { matchLabels: Record<string, string>; pdGroup?: PDGroup };
    workloadPort: { port: number; protocol: 'http' | 'https' };
    trafficPolicy?: { timeoutMs?: number; retry?: RetryPolicy };
    kvConnector?: { type: string };
  };
}

export interface TargetModel {
  modelServerName?: string;
  externalModelProviderName?: string;
  weight: number;
}

export interface RouteRule {
  name?: string;
  modelMatch?: {
    headers?: Record<string, StringMatch>;
    uri?: StringMatch;
    body?: { model?: string };
  };
  targetModels: TargetModel[];
}

export type RateUnit = 'second' | 'minute' | 'hour' | 'day' | 'month';

export interface RouteRateLimit {
  inputTokensPerUnit?: number;
  outputTokensPerUnit?: number;
  /** Our extension: requests per unit. */
  requestsPerUnit?: number;
  unit: RateUnit;
  global?: { redis?: { address: string } };
}

export interface ModelRouteResource {
  kind: 'ModelRoute';
  metadata: ObjectMeta;
  spec: {
    modelName?: string;
    loraAdapters: string[];
    parentRefs: Array<{ name: string; namespace?: string; kind?: string; group?: string }>;
    rules: RouteRule[];
    rateLimit?: RouteRateLimit;
    /** Our extension: per-attempt timeouts (0 = none); unset fields take the router configuration's defaults. */
    trafficPolicy?: RouteTrafficPolicy;
  };
}

export interface RouteTrafficPolicy {
  /** Each attempt's time to the response headers. */
  headersTimeoutMs?: number;
  /** Each attempt's time to the first body byte of a streamed (`stream: true`) response. */
  firstTokenTimeoutMs?: number;
}

export interface InferencePoolResource {
  kind: 'InferencePool';
  metadata: ObjectMeta;
  spec: {
    selector: Record<string, string>;
    targetPorts: number[];
    endpointPickerRef?: {
      group?: string;
      kind?: string;
      name: string;
      port?: number;
      failureMode?: 'FailOpen' | 'FailClose';
    };
  };
}

/** Where an InferenceObjective applies: an InferencePool, or (our extension) a Kthena ModelServer, in its namespace. */
export interface ObjectivePoolRef {
  group: string;
  kind: string;
  name: string;
}

/**
 * Gateway API Inference Extension's InferenceObjective (inference.networking.x-k8s.io/v1alpha2): requests naming it in
 * the objective header get its priority in flow control, on the pool it references.
 */
export interface InferenceObjectiveResource {
  kind: 'InferenceObjective';
  metadata: ObjectMeta;
  spec: {
    /** Higher is served first; below 0 is sheddable. Unset in the object means 0. */
    priority: number;
    poolRef: ObjectivePoolRef;
  };
}

export interface ExternalModelProviderResource {
  kind: 'ExternalModelProvider';
  metadata: ObjectMeta;
  spec: {
    providerType: 'OpenAI' | 'Anthropic';
    model?: string;
    baseURL: string;
    insecureSkipVerify: boolean;
    auth?: { scheme: 'Bearer' | 'APIKey'; secretRef: { name: string; key: string } };
    headers: Record<string, string>;
  };
}

export interface SecretResource {
  kind: 'Secret';
  metadata: ObjectMeta;
  /** Decoded values (from `data` base64 or `stringData`). */
  data: Record<string, string>;
}

export type Resource =
  | PodResource
  | ModelServerResource
  | ModelRouteResource
  | InferencePoolResource
  | InferenceObjectiveResource
  | ExternalModelProviderResource
  | SecretResource;

export type ResourceKind = Resource['kind'];

export function resourceKey(r: { metadata: { namespace: string; name: string } }): string {
  return `${r.metadata.namespace}/${r.metadata.name}`;
}
