import type { Metadata, Struct, Value } from './wire.js';

// Plain JSON-like values ↔ google.protobuf.Struct. The bundled Struct/Value definitions use camelCase field
// names (stringValue, structValue, ...): snake_case names would be dropped silently on encode.

export type JsonLike = null | boolean | number | string | JsonLike[] | { [key: string]: JsonLike };

export function toStruct(obj: Record<string, JsonLike | undefined>): Struct {
  const fields: Record<string, Value> = {};
  for (const [key, value] of Object.entries(obj)) {
    if (value !== undefined) fields[key] = toValue(value);
  }
  return { fields };
}

export function toValue(value: JsonLike): Value {
  if (value === null) return { nullValue: 0 };
  if (typeof value === 'string') return { stringValue: value };
  if (typeof value === 'number') return { numberValue: value };
  if (typeof value === 'boolean') return { boolValue: value };
  if (Array.isArray(value)) return { listValue: { values: value.map(toValue) } };
  return { structValue: toStruct(value) };
}

export function fromStruct(struct: Struct | null | undefined): Record<string, JsonLike> {
  const out: Record<string, JsonLike> = {};
  for (const [key, value] of Object.entries(struct?.fields ?? {})) out[key] = fromValue(value);
  return out;
}

export function fromValue(value: Value | null | undefined): JsonLike {
  if (!value) return null;
  switch (value.kind ?? presentKind(value)) {
    case 'stringValue':
      return value.stringValue ?? '';
    case 'numberValue':
      return value.numberValue ?? 0;
    case 'boolValue':
      return value.boolValue ?? false;
    case 'structValue':
      return fromStruct(value.structValue);
    case 'listValue':
      return (value.listValue?.values ?? []).map(fromValue);
    default:
      return null;
  }
}

function presentKind(value: Value): string | undefined {
  for (const kind of ['stringValue', 'numberValue', 'boolValue', 'structValue', 'listValue'] as const) {
    if (value[kind] !== undefined && value[kind] !== null) return kind;
  }
  return undefined;
}

/** One key of one namespace of forwarded dynamic metadata, as a plain value. */
export function metadataValue(metadata: Metadata | null | undefined, namespace: string, key: string): JsonLike | undefined {
  const fields = metadata?.filter_metadata?.[namespace]?.fields;
  if (!fields || !(key in fields)) return undefined;
  return fromValue(fields[key]);
}
