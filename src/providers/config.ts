import { ConfigError } from '../config/errors.js';
import { num, section } from '../config/read.js';

// The `providers` and `outlierDetection` sections of the router configuration.

export interface ProvidersConfig {
  /** PEM bundle trusted for provider TLS in addition to the system roots (a private CA; tests). */
  caFile?: string;
  /** Whole-request timeout of a provider target, retries included; 0 = none. */
  timeoutMs: number;
  retry: {
    /** Extra attempts after the first, on connect errors, 429 and 5xx before the first response byte. */
    attempts: number;
    /** First backoff; each further retry waits twice as long, up to `maxIntervalMs`. */
    intervalMs: number;
    maxIntervalMs: number;
  };
  /**
   * Largest provider error body (non-2xx) relayed, after the injected credential is redacted from it; the rest is
   * cut off. Error bodies are held whole to be redacted, so this bounds the memory of each.
   */
  maxErrorBodyBytes: number;
  anthropic: {
    /** Sent as `anthropic-version` unless the provider's `headers` set one. */
    version: string;
    /** `max_tokens` is required by the Messages API; used when the client sent none. */
    defaultMaxTokens: number;
  };
}

export interface OutlierConfig {
  enabled: boolean;
  /** Consecutive failures (no response, 5xx, 429) that eject a pod or provider. */
  consecutiveFailures: number;
  /** First ejection; doubles with every ejection that follows soon after the previous one. */
  baseEjectionMs: number;
  maxEjectionMs: number;
}

export function parseProvidersConfig(raw: unknown): ProvidersConfig {
  const s = section(raw, 'providers', ['caFile', 'timeoutMs', 'retry', 'maxErrorBodyBytes', 'anthropic']);
  const retry = section(s.retry, 'providers.retry', ['attempts', 'intervalMs', 'maxIntervalMs']);
  const anthropic = section(s.anthropic, 'providers.anthropic', ['version', 'defaultMaxTokens']);
  if (s.caFile !== undefined && (typeof s.caFile !== 'string' || s.caFile === '')) {
    throw new ConfigError('providers.caFile must be a file path');
  }
  if (anthropic.version !== undefined && (typeof anthropic.version !== 'string' || anthropic.version === '')) {
    throw new ConfigError('providers.anthropic.version must be a non-empty string');
  }
  const intervalMs = num(retry.intervalMs, 250, 'providers.retry.intervalMs', 0);
  return {
    caFile: s.caFile,
    timeoutMs: num(s.timeoutMs, 600_000, 'providers.timeoutMs', 0),
    retry: {
      attempts: num(retry.attempts, 2, 'providers.retry.attempts', 0),
      intervalMs,
      maxIntervalMs: num(retry.maxIntervalMs, Math.max(intervalMs, 5_000), 'providers.retry.maxIntervalMs', intervalMs),
    },
    maxErrorBodyBytes: num(s.maxErrorBodyBytes, 65_536, 'providers.maxErrorBodyBytes', 1),
    anthropic: {
      version: anthropic.version ?? '2023-06-01',
      defaultMaxTokens: num(anthropic.defaultMaxTokens, 4096, 'providers.anthropic.defaultMaxTokens', 1),
    },
  };
}

export function parseOutlierConfig(raw: unknown): OutlierConfig {
  const s = section(raw, 'outlierDetection', ['enabled', 'consecutiveFailures', 'baseEjectionMs', 'maxEjectionMs']);
  const baseEjectionMs = num(s.baseEjectionMs, 30_000, 'outlierDetection.baseEjectionMs', 1);
  return {
    enabled: s.enabled !== false,
    consecutiveFailures: num(s.consecutiveFailures, 5, 'outlierDetection.consecutiveFailures', 1),
    baseEjectionMs,
    maxEjectionMs: num(s.maxEjectionMs, Math.max(baseEjectionMs, 300_000), 'outlierDetection.maxEjectionMs', baseEjectionMs),
  };
}
