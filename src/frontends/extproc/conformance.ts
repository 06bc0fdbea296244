import { DESTINATION_NAMESPACE, SERVED_KEY } from './gateway-protocol.js';
import { fromValue } from './struct.js';
import type { Metadata } from './wire.js';

// The Gateway API Inference Extension conformance suite's response hook (test mode only). It reports what the
// gateway said served the request, never the picker's own choice: a gateway that ignores the pick or never reports
// the served endpoint must fail the suite, so missing metadata is reported with the reference picker's exact text.

export const CONFORMANCE_SERVED_HEADER = 'x-conformance-test-served-endpoint';
export const MISSING_LB_METADATA = 'fail: missing envoy lb metadata';
export const MISSING_SERVED_METADATA = 'fail: missing destination endpoint served metadata';

/** The conformance header's value for one response-path message's metadata_context. */
export function servedEndpointReport(metadata: Metadata | null | undefined): string {
  const lb = metadata?.filter_metadata?.[DESTINATION_NAMESPACE];
  if (!lb) return MISSING_LB_METADATA;
  const served = fromValue(lb.fields?.[SERVED_KEY]);
  return typeof served === 'string' ? served : MISSING_SERVED_METADATA;
}
