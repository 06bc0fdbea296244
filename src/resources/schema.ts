// The one schema of our custom resources. It validates objects from static files and from Kubernetes (via ajv in
// parse.ts) and generates the CRDs in manifests/crds/ (scripts/gen-crds.ts), so the three never drift apart.

type Schema = Record<string, unknown>;

const str = (extra: Schema = {}): Schema => ({ type: 'string', ...extra });
const labelMap: Schema = { type: 'object', additionalProperties: { type: 'string' } };
const duration: Schema = str({ pattern: '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$' });

const stringMatch: Schema = {
  type: 'object',
  properties: { exact: str(), prefix: str(), regex: str() },
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
};

export const modelServerSpec: Schema = {
  type: 'object',
  required: ['inferenceEngine', 'workloadSelector'],
  properties: {
    model: str({ maxLength: 256 }),
    inferenceEngine: str({ enum: ['vLLM', 'SGLang', 'TGI', 'TRTLLM'] }),
    workloadSelector: {
      type: 'object',
      properties: {
        matchLabels: labelMap,
        pdGroup: {
          type: 'object',
          required: ['groupKey', 'prefillLabels', 'decodeLabels'],
          properties: { groupKey: str({ minLength: 1 }), prefillLabels: labelMap, decodeLabels: labelMap },
        },
      },
    },
    workloadPort: {
      type: 'object',
      required: ['port'],
      properties: {
        port: { type: 'integer', minimum: 1, maximum: 65535 },
        protocol: str({ enum: ['http', 'https'], default: 'http' }),
      },
    },
    trafficPolicy: {
      type: 'object',
      properties: {
        timeout: duration,
        retry: {
          type: 'object',
          properties: { attempts: { type: 'integer', minimum: 0, maximum: 10 }, retryInterval: duration },
        },
      },
    },
    kvConnector: {
      type: 'object',
      properties: { type: str({ enum: ['http', 'lmcache', 'nixl', 'mooncake'], default: 'http' }) },
    },
  },
};

export const modelRouteSpec: Schema = {
  type: 'object',
  required: ['rules'],
  properties: {
    modelName: str({ maxLength: 256 }),
    loraAdapters: { type: 'array', maxItems: 10, items: str({ minLength: 1 }) },
    parentRefs: {
      type: 'array',
      items: {
        type: 'object',
        required: ['name'],
        properties: {
          name: str(),
          namespace: str(),
          kind: str(),
          group: str(),
          sectionName: str(),
          port: { type: 'integer' },
        },
      },
    },
    rules: {
      type: 'array',
      minItems: 1,
      maxItems: 16,
      items: {
        type: 'object',
        required: ['targetModels'],
        properties: {
          name: str(),
          modelMatch: {
            type: 'object',
            properties: {
              headers: { type: 'object', additionalProperties: stringMatch },
              uri: stringMatch,
              body: { type: 'object', properties: { model: str() } },
            },
          },
          targetModels: {
            type: 'array',
            minItems: 1,
            maxItems: 16,
            items: {
              type: 'object',
              properties: {
                modelServerName: str(),
                externalModelProviderName: str(),
                weight: { type: 'integer', minimum: 0, maximum: 100, default: 100 },
              },
              oneOf: [{ required: ['modelServerName'] }, { required: ['externalModelProviderName'] }],
            },
          },
        },
      },
    },
    trafficPolicy: {
      // Our extension: per-attempt timeouts of the standalone proxy (ModelServer.trafficPolicy.timeout bounds the whole request).
      type: 'object',
      properties: { headersTimeout: duration, firstTokenTimeout: duration },
      additionalProperties: false,
    },
    rateLimit: {
      type: 'object',
      properties: {
        inputTokensPerUnit: { type: 'integer', minimum: 1 },
        outputTokensPerUnit: { type: 'integer', minimum: 1 },
        requestsPerUnit: { type: 'integer', minimum: 1 },
        unit: str({ enum: ['second', 'minute', 'hour', 'day', 'month'], default: 'second' }),
        global: {
          type: 'object',
          properties: {
            redis: { type: 'object', required: ['address'], properties: { address: str({ minLength: 1 }) } },
          },
        },
      },
    },
  },
  anyOf: [{ required: ['modelName'] }, { required: ['loraAdapters'] }],
};

export const externalModelProviderSpec: Schema = {
  type: 'object',
  required: ['providerType', 'baseURL'],
  properties: {
    providerType: str({ enum: ['OpenAI', 'Anthropic'] }),
    model: str({ maxLength: 256 }),
    baseURL: str({ pattern: '^https://' }),
    insecureSkipVerify: { type: 'boolean', default: false },
    auth: {
      type: 'object',
      required: ['secretRef'],
      properties: {
        scheme: str({ enum: ['Bearer', 'APIKey'], default: 'Bearer' }),
        secretRef: {
          type: 'object',
          required: ['name', 'key'],
          properties: { name: str({ minLength: 1 }), key: str({ minLength: 1 }) },
        },
      },
    },
    headers: labelMap,
  },
};

/** InferencePool groups: the GA one first (the default of a poolRef), then the older alpha one. */
export const INFERENCE_POOL_GROUPS = ['inference.networking.k8s.io', 'inference.networking.x-k8s.io'] as const;
/** Group of InferenceObjective (still alpha in the Gateway API Inference Extension). */
export const INFERENCE_OBJECTIVE_GROUP = 'inference.networking.x-k8s.io';

/**
 * InferenceObjective (v1alpha2) as the Gateway API Inference Extension defines it: the file source checks what the API
 * server would. Not in crdDefinitions: that project ships the CRD, and a copy of ours would overwrite it.
 */
export const inferenceObjectiveSpec: Schema = {
  type: 'object',
  required: ['poolRef'],
  properties: {
    priority: { type: 'integer', minimum: -2147483648, maximum: 2147483647 },
    poolRef: {
      type: 'object',
      required: ['name'],
      properties: {
        group: str({
          maxLength: 253,
          pattern: '^$|^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$',
          default: INFERENCE_POOL_GROUPS[0],
        }),
        kind: str({ minLength: 1, maxLength: 63, pattern: '^[a-zA-Z]([-a-zA-Z0-9]*[a-zA-Z0-9])?$', default: 'InferencePool' }),
        name: str({ minLength: 1, maxLength: 253 }),
      },
    },
  },
};

export interface CrdDefinition {
  kind: 'ModelServer' | 'ModelRoute' | 'ExternalModelProvider';
  group: string;
  version: string;
  plural: string;
  singular: string;
  shortNames: string[];
  specSchema: Schema;
  printerColumns: Array<{ name: string; type: string; jsonPath: string; description?: string }>;
}

export const KTHENA_GROUP = 'networking.serving.volcano.sh';

const age = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const crdDefinitions: CrdDefinition[] = [
  {
    kind: 'ModelServer',
    group: KTHENA_GROUP,
    version: 'v1alpha1',
    plural: 'modelservers',
    singular: 'modelserver',
    shortNames: ['ms'],
    specSchema: modelServerSpec,
    printerColumns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.model', description: 'Model name sent to the engine' },
      { name: 'Engine', type: 'string', jsonPath: '.spec.inferenceEngine', description: 'Inference engine' },
      { name: 'Port', type: 'integer', jsonPath: '.spec.workloadPort.port', description: 'Model server port' },
      age,
    ],
  },
  {
    kind: 'ModelRoute',
    group: KTHENA_GROUP,
    version: 'v1alpha1',
    plural: 'modelroutes',
    singular: 'modelroute',
    shortNames: ['mr'],
    specSchema: modelRouteSpec,
    printerColumns: [
      { name: 'Model', type: 'string', jsonPath: '.spec.modelName', description: 'Model name matched' },
      { name: 'LoRAs', type: 'string', jsonPath: '.spec.loraAdapters', description: 'LoRA adapters matched' },
      age,
    ],
  },
  {
    kind: 'ExternalModelProvider',
    group: KTHENA_GROUP,
    version: 'v1alpha1',
    plural: 'externalmodelproviders',
    singular: 'externalmodelprovider',
    shortNames: ['emp'],
    specSchema: externalModelProviderSpec,
    printerColumns: [
      { name: 'Type', type: 'string', jsonPath: '.spec.providerType', description: 'Provider API' },
      { name: 'Model', type: 'string', jsonPath: '.spec.model', description: 'Provider model' },
      { name: 'BaseURL', type: 'string', jsonPath: '.spec.baseURL', description: 'Provider base URL' },
      age,
    ],
  },
];
