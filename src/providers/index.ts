// Public surface of external model providers and passive outlier detection.
export { parseOutlierConfig, parseProvidersConfig } from './config.js';
export type { OutlierConfig, ProvidersConfig } from './config.js';
export { defaultProviderSettings, loadProviderSettings } from './settings.js';
export type { ProviderSettings } from './settings.js';
export { OutlierDetector } from './outlier-detector.js';
export type { EjectionView } from './outlier-detector.js';
export { providerDecision } from './decision.js';
export { PROVIDER_HEADER } from './headers.js';
export { providerKey, resolveProvider } from './resolve.js';
export type { ResolvedProvider } from './resolve.js';
