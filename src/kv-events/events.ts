import { decode } from '@msgpack/msgpack';
import { blockKey, type BlockKey } from './block-key.js';

// vLLM's KV-cache events (vllm/distributed/kv_events.py), as its ZMQ publisher sends them: msgspec-msgpack
// encoded KVEventBatch structs. vLLM's own example subscriber and released engines use array-like structs
// ([ts, events, data_parallel_rank?], each event a tagged array whose first item is the class name); other builds
// encode the same structs as maps with the tag under "type". Both layouts are read; fields added after the ones we
// use (lora_name, extra_keys, group_idx, ...) are ignored, and omitted trailing defaults read as absent.

export interface BlockStored {
  type: 'BlockStored';
  /** One per stored block, in chain order. */
  blockHashes: BlockKey[];
  /** The block before the first stored one; null when the first stored block starts the prompt. */
  parentBlockHash: BlockKey | null;
  /** Token ids of every stored block, concatenated. */
  tokenIds: number[];
  blockSize: number;
  loraId: number | null;
  /** "GPU" for the engine's own cache; another tier (e.g. "CPU" offload) otherwise; null from older engines. */
  medium: string | null;
}

export interface BlockRemoved {
  type: 'BlockRemoved';
  blockHashes: BlockKey[];
  medium: string | null;
}

export interface AllBlocksCleared {
  type: 'AllBlocksCleared';
}

export type KvCacheEvent = BlockStored | BlockRemoved | AllBlocksCleared;

export interface KvEventBatch {
  /** Publisher wall time, seconds since the epoch. */
  ts: number;
  events: KvCacheEvent[];
  dataParallelRank: number | null;
}

export class KvEventDecodeError extends Error {}

/** Decodes one msgpack KVEventBatch payload; throws KvEventDecodeError on anything that is not one. */
export function decodeEventBatch(payload: Uint8Array): KvEventBatch {
  let raw: unknown;
  try {
    raw = decode(payload, { useBigInt64: true });
  } catch (err) {
    throw new KvEventDecodeError(`not msgpack: ${(err as Error).message}`);
  }
  const [ts, events, rank] = Array.isArray(raw) ? raw : fields(raw, 'batch', ['ts', 'events', 'data_parallel_rank']);
  if (!Array.isArray(events)) throw new KvEventDecodeError('batch: events must be an array');
  return {
    ts: num(ts, 'batch.ts'),
    events: events.map(decodeEvent),
    dataParallelRank: rank === undefined || rank === null ? null : num(rank, 'batch.data_parallel_rank'),
  };
}

const LAYOUT = {
  BlockStored: ['block_hashes', 'parent_block_hash', 'token_ids', 'block_size', 'lora_id', 'medium'],
  BlockRemoved: ['block_hashes', 'medium'],
  AllBlocksCleared: [],
} as const;

function decodeEvent(raw: unknown): KvCacheEvent {
  let tag: unknown;
  let values: unknown[];
  if (Array.isArray(raw)) {
    [tag, ...values] = raw;
    if (!isTag(tag)) throw new KvEventDecodeError(`event: unknown tag ${String(tag)}`);
  } else {
    tag = raw !== null && typeof raw === 'object' ? (raw as Record<string, unknown>).type : undefined;
    if (!isTag(tag)) throw new KvEventDecodeError(`event: unknown tag ${String(tag)}`);
    values = fields(raw, tag, LAYOUT[tag]);
  }
  switch (tag) {
    case 'BlockStored': {
      const [hashes, parent, tokens, blockSize, loraId, medium] = values;
      const tokenIds = list(tokens, 'BlockStored.token_ids').map((t) => num(t, 'BlockStored.token_ids'));
      return {
        type: tag,
        blockHashes: keys(hashes, 'BlockStored.block_hashes'),
        parentBlockHash: parent === null || parent === undefined ? null : key(parent, 'BlockStored.parent_block_hash'),
        tokenIds,
        blockSize: num(blockSize, 'BlockStored.block_size'),
        loraId: loraId === null || loraId === undefined ? null : num(loraId, 'BlockStored.lora_id'),
        medium: optStr(medium, 'BlockStored.medium'),
      };
    }
    case 'BlockRemoved': {
      const [hashes, medium] = values;
      return { type: tag, blockHashes: keys(hashes, 'BlockRemoved.block_hashes'), medium: optStr(medium, 'BlockRemoved.medium') };
    }
    case 'AllBlocksCleared':
      return { type: tag };
  }
}

function isTag(tag: unknown): tag is keyof typeof LAYOUT {
  return typeof tag === 'string' && Object.hasOwn(LAYOUT, tag);
}

function fields(raw: unknown, what: string, names: readonly string[]): unknown[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new KvEventDecodeError(`${what}: not a struct`);
  const obj = raw as Record<string, unknown>;
  return names.map((n) => obj[n]);
}

function list(v: unknown, what: string): unknown[] {
  if (!Array.isArray(v)) throw new KvEventDecodeError(`${what} must be an array`);
  return v;
}

function keys(v: unknown, what: string): BlockKey[] {
  return list(v, what).map((h) => key(h, what));
}

function key(v: unknown, what: string): BlockKey {
  const k = blockKey(v);
  if (k === undefined) throw new KvEventDecodeError(`${what}: a block hash must be bytes or an integer`);
  return k;
}

function num(v: unknown, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new KvEventDecodeError(`${what} must be a number`);
  return n;
}

function optStr(v: unknown, what: string): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'string') throw new KvEventDecodeError(`${what} must be a string`);
  return v;
}
