import type { UpstreamPolicy } from '../../core/types.js';

export interface UpstreamTarget {
  origin: string;
  path: string;
}

/**
 * Where one attempt goes. A pod is addressed as `scheme://ip:port` with the client's path. An external provider
 * (`baseUrl`) gets its own origin, and the base URL's path is prefixed unless the client's path already starts with
 * it (base `https://host/v1` + `/v1/chat/completions` stays as is; base `https://host/openai` gets `/openai/v1/...`).
 */
export function upstreamTarget(policy: UpstreamPolicy, address: string, path: string): UpstreamTarget {
  if (!policy.baseUrl) return { origin: `${policy.scheme}://${address}`, path };
  const base = new URL(policy.baseUrl);
  const prefix = base.pathname.replace(/\/+$/, '');
  const covered = prefix === '' || path === prefix || path.startsWith(`${prefix}/`) || path.startsWith(`${prefix}?`);
  return { origin: base.origin, path: covered ? path : prefix + path };
}

/** The request target as an origin-form path; absolute-form (`GET http://host/p`) is reduced to its path. */
export function originFormPath(url: string | undefined): string | undefined {
  if (!url) return undefined;
  if (url.startsWith('/')) return url;
  if (!/^https?:\/\//i.test(url)) return undefined;
  try {
    const u = new URL(url);
    return u.pathname + u.search;
  } catch {
    return undefined;
  }
}
