import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { num, section } from './read.js';
import type { AdmissionConfig } from '../core/admission.js';
import { defaultWorkerCount } from '../tokenizer/index.js';
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
    /** Request bodies being read or routed hold at most this many bytes together (503 above). */
    maxBufferedBodyBytes: number;
    /** Longest silence while a request is received (ext_proc: no message; proxy: no body bytes); 0 disables. */
    requestIdleTimeoutMs: number;
    /** Longest silence on a routed ext_proc stream while the response is relayed; 0 disables. */
    responseIdleTimeoutMs: number;
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
  /** Token counting of prompts too big to count on the event loop. */
  tokenizer: {
    /** Worker threads (default: one per core but one, at most 4). */
    workers: number;
    /** Prompts being counted at once at most; more are estimated at once. */
    maxQueued: number;
    /** A count slower than this is dropped and the prompt estimated. */
    timeoutMs: number;
  };
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
  const tokenizer = section(raw.tokenizer, 'tokenizer');
  const saturation = section(flow.saturation, 'flowControl.saturation');
  const interval = num(metrics.scrapeIntervalMs, 500, 'metrics.scrapeIntervalMs', 10);
  const maxBodyBytes = num(router.maxBodyBytes, 8 * 1024 * 1024, 'router.maxBodyBytes', 1024);
  return {
    scheduler: parseSchedulerConfig(raw.scheduler),
    auth: raw.auth,
    rateLimit: raw.rateLimit,
    router: {
      maxBodyBytes,
      decisionTimeoutMs: num(router.decisionTimeoutMs, 5000, 'router.decisionTimeoutMs', 1),
      // At least one maximum-size body, or such a body could never be accepted.
      maxBufferedBodyBytes: num(
        router.maxBufferedBodyBytes,
        Math.max(256 * 1024 * 1024, maxBodyBytes),
        'router.maxBufferedBodyBytes',
        maxBodyBytes,
      ),
      requestIdleTimeoutMs: num(router.requestIdleTimeoutMs, 30_000, 'router.requestIdleTimeoutMs', 0),
      responseIdleTimeoutMs: num(router.responseIdleTimeoutMs, 600_000, 'router.responseIdleTimeoutMs', 0),
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
      maxQueueSize: num(flow.maxQueueSize, 1000, 'flowControl.maxQueueSize', 0),
      maxQueueTimeMs: num(flow.maxQueueTimeMs, 3000, 'flowControl.maxQueueTimeMs', 0),
      trustPriorityHeader: flow.trustPriorityHeader === true,
      saturation: {
        queueDepth: num(saturation.queueDepth, 5, 'flowControl.saturation.queueDepth', 1),
        kvCacheUsage: num(saturation.kvCacheUsage, 0.9, 'flowControl.saturation.kvCacheUsage', 0),
      },
    },
    inferencePool: { engine: typeof pool.engine === 'string' ? pool.engine : 'vLLM' },
    providers: parseProvidersConfig(raw.providers),
    outlierDetection: parseOutlierConfig(raw.outlierDetection),
    tokenizer: {
      workers: Math.floor(num(tokenizer.workers, defaultWorkerCount(), 'tokenizer.workers', 1)),
      maxQueued: Math.floor(num(tokenizer.maxQueued, 64, 'tokenizer.maxQueued', 0)),
      timeoutMs: num(tokenizer.timeoutMs, 2000, 'tokenizer.timeoutMs', 1),
    },
  };
}
