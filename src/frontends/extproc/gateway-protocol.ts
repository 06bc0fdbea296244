import { metadataValue, toStruct } from './struct.js';
import type { Metadata, Struct } from './wire.js';

// Names of the Gateway API Inference Extension endpoint-picker protocol.

export const DESTINATION_HEADER = 'x-gateway-destination-endpoint';
export const DESTINATION_NAMESPACE = 'envoy.lb';
export const DESTINATION_KEY = DESTINATION_HEADER;
export const SUBSET_NAMESPACE = 'envoy.lb.subset_hint';
export const SUBSET_KEY = 'x-gateway-destination-endpoint-subset';
export const SERVED_KEY = 'x-gateway-destination-endpoint-served';

/** Header names only the gateway and the picker may set: a client's copies are removed upstream. */
export function isSystemOwnedHeader(name: string): boolean {
  return name.startsWith(DESTINATION_HEADER);
}

/** Ordered endpoint list → the header / metadata value (`ip:port,ip:port`). */
export function destinationValue(endpoints: readonly string[]): string {
  return endpoints.join(',');
}

/** `envoy.lb` dynamic metadata naming the picked endpoints. */
export function destinationMetadata(value: string): Struct {
  return toStruct({ [DESTINATION_NAMESPACE]: { [DESTINATION_KEY]: value } });
}

/**
 * The gateway's subset hint: a list of strings or a comma-separated string. Undefined when absent (no
 * restriction); an empty array when present but empty (nothing is eligible).
 */
export function readSubsetHint(metadata: Metadata | null | undefined): string[] | undefined {
  const value = metadataValue(metadata, SUBSET_NAMESPACE, SUBSET_KEY);
  if (value === undefined) return undefined;
  const items = Array.isArray(value) ? value : [value];
  return items
    .flatMap((item) => (typeof item === 'string' ? item.split(',') : []))
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

/** The endpoint that really served the request, reported by the gateway on the response path. */
export function readServedEndpoint(metadata: Metadata | null | undefined): string | undefined {
  const value = metadataValue(metadata, DESTINATION_NAMESPACE, SERVED_KEY);
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}
