import type { HeaderMapLike } from '../../core/types.js';
import { HeaderAppendAction, type HeaderMap, type HeaderValue, type HeaderValueOption } from './wire.js';

// Envoy sends header values in raw_value (older Envoys in value); names arrive lower-cased but we do not
// rely on it. Mutations carry raw_value only: Envoy rejects a HeaderValue with both fields set.

/** The value of one HeaderValue: raw_value when present, else value. */
export function headerValueText(h: HeaderValue): string {
  if (h.raw_value && h.raw_value.length > 0) return h.raw_value.toString('utf8');
  return h.value ?? '';
}

/** HeaderMap → lower-cased name → value; repeated names are joined with ", ". */
export function fromHeaderMap(map: HeaderMap | null | undefined): HeaderMapLike {
  const out: HeaderMapLike = new Map();
  for (const h of map?.headers ?? []) {
    const name = h.key.toLowerCase();
    const value = headerValueText(h);
    const prev = out.get(name);
    out.set(name, prev === undefined ? value : `${prev}, ${value}`);
  }
  return out;
}

/** Name/value pairs → HeaderMap, the way Envoy encodes them (raw_value). */
export function toHeaderMap(headers: Iterable<[string, string]>): HeaderMap {
  const list: HeaderValue[] = [];
  for (const [key, value] of headers) list.push(rawHeader(key, value));
  return { headers: list };
}

export function rawHeader(key: string, value: string): HeaderValue {
  return { key: key.toLowerCase(), raw_value: Buffer.from(value, 'utf8') };
}

/** A set_headers entry that replaces any value the request already has. */
export function overwriteHeader(key: string, value: string): HeaderValueOption {
  return { header: rawHeader(key, value), append_action: HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD };
}
