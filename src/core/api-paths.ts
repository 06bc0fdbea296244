import { ConfigError } from '../config/errors.js';

// Which request paths the router routes at all. Engines expose far more than the inference API (/metrics, /sleep,
// /v1/load_lora_adapter, a simulator's /admin/fail): a client must never reach those through the router, whatever
// JSON it sends. Matching is exact on the raw path (query string aside), with no normalisation, so `/v1/../metrics`
// or `/v1/chat/completions/..` are simply unknown: what is checked is exactly what goes upstream.

/** The OpenAI inference API the pipeline understands: requests parsed for a model, and the model list. */
export const BUILT_IN_API_PATHS: readonly string[] = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/models',
];

export class ApiPaths {
  private readonly allowed: ReadonlySet<string>;

  /** `extra`: paths the operator adds (`router.allowedPaths`), already validated. */
  constructor(extra: readonly string[] = []) {
    this.allowed = new Set([...BUILT_IN_API_PATHS, ...extra]);
  }

  /** Whether a request `:path` (query string included) is routed. */
  allows(path: string): boolean {
    const q = path.indexOf('?');
    return this.allowed.has(q < 0 ? path : path.slice(0, q));
  }
}

/**
 * Validates `router.allowedPaths`: absolute paths, exact (no query, fragment, percent-encoding, empty, `.` or `..`
 * segment), so an entry can never cover more than the one path it names.
 */
export function parseAllowedPaths(raw: unknown, name: string): string[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw new ConfigError(`${name} must be a list of paths`);
  return raw.map((p, i) => {
    const where = `${name}[${i}]`;
    if (typeof p !== 'string' || !p.startsWith('/') || p.length > 1024) throw new ConfigError(`${where} must be a path starting with /`);
    if (/[?#%\s]/.test(p)) throw new ConfigError(`${where} must be a plain path (no query, fragment, %-escape or space)`);
    const segments = p.slice(1).split('/');
    if (segments.some((s) => s === '' || s === '.' || s === '..')) {
      throw new ConfigError(`${where} must not contain empty, "." or ".." segments`);
    }
    return p;
  });
}
