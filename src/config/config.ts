import { readFile } from 'node:fs/promises';
import { parse } from 'yaml';
import { rejectUnknownKeys } from './keys.js';
import { DEFAULT_MAX_JSON_DEPTH } from '../openai/request.js';
import { invalidTrustedProxy } from '../frontends/proxy/trusted-proxies.js';
import { num, section } from './read.js';
import { parseAllowedPaths } from '../core/api-paths.js';
import type { AdmissionConfig } from '../core/admission.js';
import { defaultWorkerCount } from '../tokenizer/index.js';
import type { AccessLogConfig } from '../observability/access-log.js';
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
    /** Deepest nesting of arrays/objects in a request body (400 above). */
    maxJsonDepth: number;
    /** Longest a routing decision may take before the request is answered 503. */
    decisionTimeoutMs: number;
    /**
     * The ext_proc filter's `message_timeout` in the Envoy in front (Envoy's default: 200 ms). Outside full duplex a
     * decision must be answered within it (the router keeps 10% for the way back), so set it to what the bootstrap says.
     */
    messageTimeoutMs: number;
    /** Request bodies being read or routed hold at most this many bytes together (503 above). */
    maxBufferedBodyBytes: number;
    /** Longest silence while a request is received (ext_proc: no message; proxy: no body bytes); 0 disables. */
    requestIdleTimeoutMs: number;
    /** Longest silence on a routed ext_proc stream while the response is relayed; 0 disables. */
    responseIdleTimeoutMs: number;
    /** Enables the Gateway API conformance hooks (`test-epp-endpoint-selection`). Never in production. */
    testMode: boolean;
    /** Exact paths routed besides the built-in inference API (everything else is answered 404). */
    allowedPaths: string[];
    /** Proxy per-attempt timeouts where a ModelRoute's trafficPolicy sets none; 0 = none. */
    attemptTimeouts: { headersMs: number; firstTokenMs: number };
    /** Standalone proxy: time a client has to send its request headers (408 after). */
    headersTimeoutMs: number;
    /** Standalone proxy: time a client has to send its whole request, body included (408 after). */
    requestReceiveTimeoutMs: number;
    /** Standalone proxy: addresses / CIDR ranges whose X-Forwarded-Host/-Proto are believed. */
    trustedProxies: string[];
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
  /** One line per request on stdout, on its own stream (not filtered by LOG_LEVEL). */
  accessLog: AccessLogConfig;
  /** Read-only /debug/config, /debug/endpoints and /debug/routes on the metrics port. */
  debugEndpoints: { enabled: boolean };
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

/** Sections of the configuration; `auth` and `rateLimit` check their own keys when parsed. */
const TOP_LEVEL_KEYS = [
  'scheduler',
  'router',
  'metrics',
  'inferencePool',
  'flowControl',
  'auth',
  'rateLimit',
  'providers',
  'outlierDetection',
  'tokenizer',
  'accessLog',
  'debugEndpoints',
  'spillOver',
  'routerConfiguration',
];

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
  rejectUnknownKeys(raw, '', TOP_LEVEL_KEYS);
  const router = section(raw.router, 'router', [
    'maxBodyBytes',
    'maxJsonDepth',
    'decisionTimeoutMs',
    'messageTimeoutMs',
    'maxBufferedBodyBytes',
    'requestIdleTimeoutMs',
    'responseIdleTimeoutMs',
    'testMode',
    'allowedPaths',
    'attemptTimeouts',
    'headersTimeoutMs',
    'requestReceiveTimeoutMs',
    'trustedProxies',
  ]);
  const attempt = section(router.attemptTimeouts, 'router.attemptTimeouts', ['headersMs', 'firstTokenMs']);
  const metrics = section(raw.metrics, 'metrics', ['scrapeIntervalMs', 'scrapeTimeoutMs', 'staleAfterMs', 'maxScrapesPerSecond']);
  const pool = section(raw.inferencePool, 'inferencePool', ['engine']);
  const flow = section(raw.flowControl, 'flowControl', ['enabled', 'maxQueueTimeMs', 'maxQueueSize', 'queueing', 'trustPriorityHeader', 'saturation']);
  const tokenizer = section(raw.tokenizer, 'tokenizer', ['workers', 'maxQueued', 'timeoutMs']);
  const saturation = section(flow.saturation, 'flowControl.saturation', ['queueDepth', 'kvCacheUsage']);
  const accessLog = section(raw.accessLog, 'accessLog', ['enabled', 'format', 'sampleRate']);
  const debug = section(raw.debugEndpoints, 'debugEndpoints', ['enabled']);
  const interval = num(metrics.scrapeIntervalMs, 500, 'metrics.scrapeIntervalMs', 10);
  const headersTimeoutMs = num(router.headersTimeoutMs, 60_000, 'router.headersTimeoutMs', 1);
  const maxBodyBytes = num(router.maxBodyBytes, 8 * 1024 * 1024, 'router.maxBodyBytes', 1024);
  const flowSaturation = {
    queueDepth: num(saturation.queueDepth, 5, 'flowControl.saturation.queueDepth', 1),
    kvCacheUsage: num(saturation.kvCacheUsage, 0.9, 'flowControl.saturation.kvCacheUsage', 0),
  };
  return {
    scheduler: parseSchedulerConfig(raw.scheduler),
    auth: raw.auth,
    rateLimit: raw.rateLimit,
    router: {
      maxBodyBytes,
      maxJsonDepth: num(router.maxJsonDepth, DEFAULT_MAX_JSON_DEPTH, 'router.maxJsonDepth', 1),
      decisionTimeoutMs: num(router.decisionTimeoutMs, 5000, 'router.decisionTimeoutMs', 1),
      messageTimeoutMs: num(router.messageTimeoutMs, 200, 'router.messageTimeoutMs', 1),
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
      allowedPaths: parseAllowedPaths(router.allowedPaths, 'router.allowedPaths'),
      attemptTimeouts: {
        // Off: a non-streamed answer's headers come only once the whole generation is done.
        headersMs: num(attempt.headersMs, 0, 'router.attemptTimeouts.headersMs', 0),
        firstTokenMs: num(attempt.firstTokenMs, 60_000, 'router.attemptTimeouts.firstTokenMs', 0),
      },
      headersTimeoutMs,
      requestReceiveTimeoutMs: num(router.requestReceiveTimeoutMs, 300_000, 'router.requestReceiveTimeoutMs', headersTimeoutMs),
      trustedProxies: trustedProxies(router.trustedProxies),
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
    tokenizer: {
      workers: Math.floor(num(tokenizer.workers, defaultWorkerCount(), 'tokenizer.workers', 1)),
      maxQueued: Math.floor(num(tokenizer.maxQueued, 64, 'tokenizer.maxQueued', 0)),
      timeoutMs: num(tokenizer.timeoutMs, 2000, 'tokenizer.timeoutMs', 1),
    },
    accessLog: {
      enabled: accessLog.enabled !== false,
      format: accessLogFormat(accessLog.format),
      sampleRate: fraction(accessLog.sampleRate, 'accessLog.sampleRate'),
    },
    debugEndpoints: { enabled: debug.enabled === true },
    spillOver: parseSpillOverConfig(raw.spillOver, flowSaturation),
  };
}

function trustedProxies(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new ConfigError('router.trustedProxies must be a list of IP addresses or CIDR ranges');
  v.forEach((entry, i) => {
    const problem = invalidTrustedProxy(entry);
    if (problem) throw new ConfigError(`router.trustedProxies[${i}]: ${problem}`);
  });
  return v as string[];
}

function accessLogFormat(v: unknown): AccessLogConfig['format'] {
  if (v === undefined) return 'json';
  if (v === 'json' || v === 'text') return v;
  throw new ConfigError('accessLog.format must be "json" or "text"');
}

function fraction(v: unknown, name: string): number {
  const n = num(v, 1, name, 0);
  if (n > 1) throw new ConfigError(`${name} must be a number between 0 and 1`);
  return n;
}
