import { Ajv, type ValidateFunction } from 'ajv';
import { parseDuration } from './duration.js';
import { ResourceError } from './errors.js';
import {
  externalModelProviderSpec,
  INFERENCE_OBJECTIVE_GROUP,
  INFERENCE_POOL_GROUPS,
  inferenceObjectiveSpec,
  KTHENA_GROUP,
  modelRouteSpec,
  modelServerSpec,
} from './schema.js';
import type {
  ExternalModelProviderResource,
  InferenceObjectiveResource,
  InferencePoolResource,
  ModelRouteResource,
  ModelServerResource,
  ObjectMeta,
  PodResource,
  Resource,
  SecretResource,
  StringMatch,
} from './types.js';

export { ResourceError };

type Raw = Record<string, any>;

const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: false });
const validators = {
  ModelServer: ajv.compile(modelServerSpec),
  ModelRoute: ajv.compile(modelRouteSpec),
  ExternalModelProvider: ajv.compile(externalModelProviderSpec),
  InferenceObjective: ajv.compile(inferenceObjectiveSpec),
};

/**
 * Turns one Kubernetes-style object (from YAML or the API server) into a typed resource. Throws ResourceError with a
 * message naming the object and the offending field. Returns undefined for kinds the router does not use.
 */
export function parseResource(obj: unknown, defaultNamespace = 'default'): Resource | undefined {
  if (!isObject(obj)) throw new ResourceError('resource must be a mapping');
  const kind = obj.kind;
  const apiVersion = typeof obj.apiVersion === 'string' ? obj.apiVersion : '';
  if (typeof kind !== 'string' || kind === '') throw new ResourceError('resource has no kind');
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.lastIndexOf('/')) : '';
  const meta = parseMeta(obj.metadata, kind, defaultNamespace);
  const where = `${kind} ${meta.namespace}/${meta.name}`;
  try {
    switch (kind) {
      case 'Pod':
        return group === '' ? parsePod(obj, meta) : undefined;
      case 'Secret':
        return group === '' ? parseSecret(obj, meta) : undefined;
      case 'ModelServer':
      case 'ModelRoute':
      case 'ExternalModelProvider':
        if (group !== KTHENA_GROUP && !group.endsWith('.volcano.sh')) return undefined;
        return parseKthena(kind, obj, meta);
      case 'InferencePool':
        return (INFERENCE_POOL_GROUPS as readonly string[]).includes(group) ? parsePool(obj, meta) : undefined;
      case 'InferenceObjective':
        return group === INFERENCE_OBJECTIVE_GROUP ? parseObjective(obj, meta) : undefined;
      default:
        return undefined;
    }
  } catch (err) {
    if (err instanceof ResourceError) throw new ResourceError(`${where}: ${err.message}`);
    throw err;
  }
}

function parseMeta(raw: unknown, kind: string, defaultNamespace: string): ObjectMeta {
  if (!isObject(raw) || typeof raw.name !== 'string' || raw.name === '') {
    throw new ResourceError(`${kind}: metadata.name is required`);
  }
  const created = raw.creationTimestamp ? Date.parse(String(raw.creationTimestamp)) : NaN;
  const deleted = raw.deletionTimestamp ? Date.parse(String(raw.deletionTimestamp)) : NaN;
  return {
    name: raw.name,
    namespace: typeof raw.namespace === 'string' && raw.namespace !== '' ? raw.namespace : defaultNamespace,
    labels: stringMap(raw.labels, 'metadata.labels'),
    annotations: stringMap(raw.annotations, 'metadata.annotations'),
    creationTimestamp: Number.isNaN(created) ? 0 : created,
    resourceVersion: typeof raw.resourceVersion === 'string' ? raw.resourceVersion : undefined,
    uid: typeof raw.uid === 'string' ? raw.uid : undefined,
    deletionTimestamp: Number.isNaN(deleted) ? undefined : deleted,
  };
}

function parsePod(obj: Raw, metadata: ObjectMeta): PodResource {
  const status: Raw = isObject(obj.status) ? obj.status : {};
  const conditions: Raw[] = Array.isArray(status.conditions) ? status.conditions : [];
  const readyCond = conditions.find((c) => isObject(c) && c.type === 'Ready');
  return {
    kind: 'Pod',
    metadata,
    podIP: typeof status.podIP === 'string' && status.podIP !== '' ? status.podIP : undefined,
    ready: readyCond !== undefined && String(readyCond.status) === 'True',
    phase: typeof status.phase === 'string' ? status.phase : undefined,
  };
}

function parseSecret(obj: Raw, metadata: ObjectMeta): SecretResource {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(isObject(obj.data) ? obj.data : {})) {
    data[k] = Buffer.from(String(v), 'base64').toString('utf8');
  }
  for (const [k, v] of Object.entries(isObject(obj.stringData) ? obj.stringData : {})) data[k] = String(v);
  return { kind: 'Secret', metadata, data };
}

/** A copy of obj.spec checked against the kind's schema, with the schema's defaults filled in. */
function validSpec(kind: keyof typeof validators, obj: Raw): Raw {
  const spec = structuredClone(isObject(obj.spec) ? obj.spec : {});
  const validate: ValidateFunction = validators[kind];
  if (!validate(spec)) {
    const msg = (validate.errors ?? [])
      .slice(0, 3)
      .map((e) => `spec${e.instancePath.replace(/\//g, '.')} ${e.message}`)
      .join('; ');
    throw new ResourceError(msg);
  }
  return spec;
}

function parseKthena(kind: 'ModelServer' | 'ModelRoute' | 'ExternalModelProvider', obj: Raw, metadata: ObjectMeta) {
  const spec = validSpec(kind, obj);
  if (kind === 'ModelServer') return parseModelServer(spec, metadata);
  if (kind === 'ModelRoute') return parseModelRoute(spec, metadata);
  return parseProvider(spec, metadata);
}

function parseModelServer(spec: Raw, metadata: ObjectMeta): ModelServerResource {
  const sel: Raw = spec.workloadSelector;
  const tp: Raw | undefined = spec.trafficPolicy;
  const pd: Raw | undefined = sel.pdGroup;
  return {
    kind: 'ModelServer',
    metadata,
    spec: {
      model: spec.model || undefined,
      inferenceEngine: spec.inferenceEngine,
      workloadSelector: {
        matchLabels: sel.matchLabels ?? {},
        pdGroup: pd
          ? { groupKey: pd.groupKey, prefillLabels: pd.prefillLabels, decodeLabels: pd.decodeLabels }
          : undefined,
      },
      workloadPort: { port: spec.workloadPort?.port ?? 8000, protocol: spec.workloadPort?.protocol ?? 'http' },
      trafficPolicy: tp
        ? {
            timeoutMs: tp.timeout ? parseDuration(tp.timeout) : undefined,
            retry: tp.retry
              ? {
                  attempts: tp.retry.attempts ?? 0,
                  retryIntervalMs: tp.retry.retryInterval ? parseDuration(tp.retry.retryInterval) : 100,
                }
              : undefined,
          }
        : undefined,
      kvConnector: spec.kvConnector ? { type: spec.kvConnector.type ?? 'http' } : undefined,
    },
  };
}

function parseModelRoute(spec: Raw, metadata: ObjectMeta): ModelRouteResource {
  const rules = (spec.rules as Raw[]).map((rule) => {
    const mm: Raw | undefined = rule.modelMatch;
    if (mm?.uri?.regex !== undefined) checkRegex(mm.uri.regex, 'modelMatch.uri.regex');
    for (const [h, m] of Object.entries((mm?.headers ?? {}) as Record<string, StringMatch>)) {
      if (m.regex !== undefined) checkRegex(m.regex, `modelMatch.headers.${h}.regex`);
    }
    return {
      name: rule.name,
      modelMatch: mm
        ? {
            headers: mm.headers
              ? Object.fromEntries(Object.entries(mm.headers as Raw).map(([k, v]) => [k.toLowerCase(), v]))
              : undefined,
            uri: mm.uri,
            body: mm.body,
          }
        : undefined,
      targetModels: (rule.targetModels as Raw[]).map((t) => ({
        modelServerName: t.modelServerName,
        externalModelProviderName: t.externalModelProviderName,
        weight: t.weight ?? 100,
      })),
    };
  });
  return {
    kind: 'ModelRoute',
    metadata,
    spec: {
      modelName: spec.modelName || undefined,
      loraAdapters: spec.loraAdapters ?? [],
      parentRefs: spec.parentRefs ?? [],
      rules,
      rateLimit: spec.rateLimit,
      trafficPolicy: spec.trafficPolicy
        ? {
            headersTimeoutMs: spec.trafficPolicy.headersTimeout ? parseDuration(spec.trafficPolicy.headersTimeout) : undefined,
            firstTokenTimeoutMs: spec.trafficPolicy.firstTokenTimeout ? parseDuration(spec.trafficPolicy.firstTokenTimeout) : undefined,
          }
        : undefined,
    },
  };
}

function parseProvider(spec: Raw, metadata: ObjectMeta): ExternalModelProviderResource {
  return {
    kind: 'ExternalModelProvider',
    metadata,
    spec: {
      providerType: spec.providerType,
      model: spec.model || undefined,
      baseURL: String(spec.baseURL).replace(/\/+$/, ''),
      insecureSkipVerify: spec.insecureSkipVerify ?? false,
      auth: spec.auth ? { scheme: spec.auth.scheme ?? 'Bearer', secretRef: spec.auth.secretRef } : undefined,
      headers: spec.headers ?? {},
    },
  };
}

function parsePool(obj: Raw, metadata: ObjectMeta): InferencePoolResource {
  const spec: Raw = isObject(obj.spec) ? obj.spec : {};
  // v1 nests labels under selector.matchLabels; v1alpha2 has a flat selector map.
  const rawSel: unknown = isObject(spec.selector?.matchLabels) ? spec.selector.matchLabels : spec.selector;
  const selector = stringMap(rawSel, 'spec.selector');
  if (Object.keys(selector).length === 0) throw new ResourceError('spec.selector.matchLabels must not be empty');
  const ports: number[] = Array.isArray(spec.targetPorts)
    ? spec.targetPorts.map((p: unknown) => Number(isObject(p) ? p.number : p))
    : spec.targetPortNumber !== undefined
      ? [Number(spec.targetPortNumber)]
      : [];
  if (ports.length === 0 || ports.length > 8 || ports.some((p) => !Number.isInteger(p) || p < 1 || p > 65535)) {
    throw new ResourceError('spec.targetPorts must hold 1 to 8 port numbers in 1..65535');
  }
  const epp: Raw | undefined = isObject(spec.endpointPickerRef)
    ? spec.endpointPickerRef
    : isObject(spec.extensionRef)
      ? spec.extensionRef
      : undefined;
  return {
    kind: 'InferencePool',
    metadata,
    spec: {
      selector,
      targetPorts: ports,
      endpointPickerRef: epp
        ? {
            group: epp.group,
            kind: epp.kind ?? 'Service',
            name: String(epp.name ?? ''),
            port: epp.port?.number ?? epp.portNumber,
            failureMode: epp.failureMode,
          }
        : undefined,
    },
  };
}

function parseObjective(obj: Raw, metadata: ObjectMeta): InferenceObjectiveResource {
  const spec = validSpec('InferenceObjective', obj);
  const ref: Raw = spec.poolRef;
  return {
    kind: 'InferenceObjective',
    metadata,
    spec: { priority: spec.priority ?? 0, poolRef: { group: ref.group, kind: ref.kind, name: ref.name } },
  };
}

function checkRegex(pattern: string, field: string): void {
  try {
    new RegExp(pattern);
  } catch {
    throw new ResourceError(`${field} is not a valid regular expression`);
  }
}

function stringMap(raw: unknown, field: string): Record<string, string> {
  if (raw === undefined || raw === null) return {};
  if (!isObject(raw)) throw new ResourceError(`${field} must be a map of strings`);
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== 'string') throw new ResourceError(`${field}.${k} must be a string`);
    out[k] = v;
  }
  return out;
}

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
