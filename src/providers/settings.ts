import { readFileSync } from 'node:fs';
import { ConfigError } from '../config/errors.js';
import { parseProvidersConfig, type ProvidersConfig } from './config.js';

/** The providers configuration with its CA bundle loaded: what provider decisions are built from. */
export interface ProviderSettings extends ProvidersConfig {
  /** PEM text of `caFile`, trusted besides the system roots. */
  extraCa?: string;
}

/** Reads the CA bundle once at start; a missing or non-PEM file stops the router with a clear message. */
export function loadProviderSettings(config: ProvidersConfig): ProviderSettings {
  if (!config.caFile) return { ...config };
  let pem: string;
  try {
    pem = readFileSync(config.caFile, 'utf8');
  } catch (err) {
    throw new ConfigError(`providers.caFile: cannot read ${config.caFile}: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new ConfigError(`providers.caFile: ${config.caFile} holds no PEM certificate`);
  }
  return { ...config, extraCa: pem };
}

export function defaultProviderSettings(): ProviderSettings {
  return parseProvidersConfig(undefined);
}
