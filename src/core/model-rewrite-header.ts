import type { HeaderMapLike } from './types.js';

// The gateway's model rewrite request header: the model name to send the engine instead of the client's. llm-d's
// name first, then the Gateway API Inference Extension's older one, as llm-d reads them. Like the Go picker, the
// router trusts it as gateway-set: gateways must strip client copies (the shipped Envoy bootstraps do).

export const MODEL_REWRITE_HEADERS = ['x-llm-d-model-name-rewrite', 'x-gateway-model-name-rewrite'] as const;

export function modelRewriteHeader(headers: HeaderMapLike): string | undefined {
  for (const name of MODEL_REWRITE_HEADERS) {
    const value = headers.get(name)?.trim();
    if (value) return value;
  }
  return undefined;
}
