import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { num, section } from './read.js';
import type { AdmissionConfig } from '../core/admission.js';
import { parseSpillOverConfig, type SpillOverConfig } from '../core/spill-over.js';
import { parseOutlierConfig, parseProvidersConfig, type OutlierConfig, type ProvidersConfig } from '../providers/config.js';
import { ConfigError, parseSchedulerConfig, type SchedulerConfig } from '../scheduler/config.js';

export { ConfigError };

/** The router configuration: Kthena's `routerConfiguration` sections plus our own. */
export interface RouterConfig {
  scheduler: SchedulerConfig;
  /** Raw `auth` section (Kthena's issuer/audiences/jwksUri plus our extensions), parsed by the auth filter. */
  auth?: unknown;
  /** Raw `rateLimit` section, parsed by the rate-limit filter. */
  rateLimit?: unknown;
  router: {
    /** Largest request body accepted (413 above). */
    maxBodyBytes: number;
    /** Longest a routing decision may take before the request is answered 503. */
    decisionTimeoutMs: number;
    /** Enables the Gateway API conformance hooks (`test-epp-endpoint-selection`). Never in production. */
    testMode: boolean;
  };
  metrics: {
    scrapeIntervalMs: number;
    scrapeTimeoutMs: number;
    /** Metrics older than this are stale and scored neutrally. */
    staleAfterMs: number;
    /** Scrapes per second over all endpoints at most; a larger fleet is scraped less often than scrapeIntervalMs. */
    maxScrapesPerSecond: number;
  };
  /** Flow control: hold or shed requests while every endpoint of their group is saturated. */
  flowControl: AdmissionConfig;
  inferencePool: {
    /** Engine whose metric names the pool's pods expose. */
    engine: string;
  };
  /** How ExternalModelProvider targets are reached: timeout, retries, extra CA, Anthropic defaults. */
  providers: ProvidersConfig;
  /** Passive outlier detection over pods and providers. */
  outlierDetection: OutlierConfig;
  /** Routes whose provider targets take only the overflow of saturated pods. */
  spillOver: SpillOverConfig;
}

export function defaultConfig(): RouterConfig {
  return parseConfig({});
}

export async function loadConfig(file: string | undefined): Promise<RouterConfig> {
  if (!file) return defaultConfig();
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (err) {
    throw new ConfigError(`config ${file} is not valid YAML: ${(err as Error).message}`);
  }
  return parseConfig(raw ?? {});
}

export function parseConfig(input: unknown): RouterConfig {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    throw new ConfigError('config must be a mapping');
  }
  let raw = input as Record<string, any>;
  // A Kthena ConfigMap stores the same shape under `routerConfiguration` (sometimes as a YAML string).
  if (raw.routerConfiguration !== undefined) {
    const inner = typeof raw.routerConfiguration === 'string' ? parse(raw.routerConfiguration) : raw.routerConfiguration;
    raw = { ...raw, ...(inner ?? {}) };
  }
  const router = section(raw.router, 'router');
  const metrics = section(raw.metrics, 'metrics');
  const pool = section(raw.inferencePool, 'inferencePool');
  const flow = section(raw.flowControl, 'flowControl');
  const saturation = section(flow.saturation, 'flowControl.saturation');
  const interval = num(metrics.scrapeIntervalMs, 500, 'metrics.scrapeIntervalMs', 10);
  const flowSaturation = {
    queueDepth: num(saturation.queueDepth, 5, 'flowControl.saturation.queueDepth', 1),
    kvCacheUsage: num(saturation.kvCacheUsage, 0.9, 'flowControl.saturation.kvCacheUsage', 0),
  };
  return {
    scheduler: parseSchedulerConfig(raw.scheduler),
    auth: raw.auth,
    rateLimit: raw.rateLimit,
    router: {
      maxBodyBytes: num(router.maxBodyBytes, 8 * 1024 * 1024, 'router.maxBodyBytes', 1024),
      decisionTimeoutMs: num(router.decisionTimeoutMs, 5000, 'router.decisionTimeoutMs', 1),
      testMode: router.testMode === true,
    },
    metrics: {
      scrapeIntervalMs: interval,
      scrapeTimeoutMs: num(metrics.scrapeTimeoutMs, Math.max(1000, interval), 'metrics.scrapeTimeoutMs', 10),
      staleAfterMs: num(metrics.staleAfterMs, Math.max(5000, interval * 4), 'metrics.staleAfterMs', 10),
      maxScrapesPerSecond: num(metrics.maxScrapesPerSecond, 500, 'metrics.maxScrapesPerSecond', 1),
    },
    flowControl: {
      enabled: flow.enabled !== false,
      queueing: flow.queueing === true,
      maxQueueSize: num(flow.maxQueueSize, 1000, 'flowControl.maxQueueSize', 0),
      maxQueueTimeMs: num(flow.maxQueueTimeMs, 3000, 'flowControl.maxQueueTimeMs', 0),
      trustPriorityHeader: flow.trustPriorityHeader === true,
      saturation: flowSaturation,
    },
    inferencePool: { engine: typeof pool.engine === 'string' ? pool.engine : 'vLLM' },
    providers: parseProvidersConfig(raw.providers),
    outlierDetection: parseOutlierConfig(raw.outlierDetection),
    spillOver: parseSpillOverConfig(raw.spillOver, flowSaturation),
  };
}
