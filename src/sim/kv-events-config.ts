// vLLM's --kv-events-config (vllm/config/kv_events.py): a JSON object. The simulator reads the same keys with the
// same defaults; a wildcard host in an endpoint (tcp://*:5557) binds the simulator's own --host, so that several
// simulators on distinct loopback addresses can all use vLLM's default ports.

export interface KvEventsConfig {
  enableKvCacheEvents: boolean;
  /** "zmq" publishes; "null" turns publishing off. */
  publisher: 'zmq' | 'null';
  endpoint: string;
  replayEndpoint: string | null;
  /** Batches kept for replay. */
  bufferSteps: number;
  /** ZeroMQ send high-water mark of the PUB socket. */
  hwm: number;
  topic: string;
}

export const KV_EVENTS_DEFAULTS: Readonly<KvEventsConfig> = Object.freeze({
  enableKvCacheEvents: false,
  publisher: 'zmq',
  endpoint: 'tcp://*:5557',
  replayEndpoint: null,
  bufferSteps: 10_000,
  hwm: 100_000,
  topic: '',
});

const KEYS: Record<string, keyof KvEventsConfig> = {
  enable_kv_cache_events: 'enableKvCacheEvents',
  publisher: 'publisher',
  endpoint: 'endpoint',
  replay_endpoint: 'replayEndpoint',
  buffer_steps: 'bufferSteps',
  hwm: 'hwm',
  topic: 'topic',
};

/** Parses the flag's JSON; throws RangeError on unknown keys or bad values. */
export function parseKvEventsConfig(json: string): KvEventsConfig {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    throw new RangeError('--kv-events-config must be a JSON object');
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new RangeError('--kv-events-config must be a JSON object');
  const out: Record<string, unknown> = { ...KV_EVENTS_DEFAULTS };
  for (const [k, v] of Object.entries(raw)) {
    const key = KEYS[k];
    if (!key) throw new RangeError(`--kv-events-config: unknown key ${k} (known: ${Object.keys(KEYS).join(', ')})`);
    out[key] = v;
  }
  const c = out as unknown as KvEventsConfig;
  const endpoint = (e: unknown) => typeof e === 'string' && /^tcp:\/\/[^\s:]+:\d{1,5}$/.test(e);
  if (typeof c.enableKvCacheEvents !== 'boolean') throw new RangeError('--kv-events-config: enable_kv_cache_events must be a boolean');
  if (c.publisher !== 'zmq' && c.publisher !== 'null') throw new RangeError('--kv-events-config: publisher must be zmq or null');
  if (!endpoint(c.endpoint)) throw new RangeError('--kv-events-config: endpoint must be tcp://host:port');
  if (c.replayEndpoint !== null && !endpoint(c.replayEndpoint)) throw new RangeError('--kv-events-config: replay_endpoint must be tcp://host:port');
  for (const k of ['bufferSteps', 'hwm'] as const) {
    if (!Number.isInteger(c[k]) || c[k] < 1) throw new RangeError('--kv-events-config: buffer_steps and hwm must be positive integers');
  }
  if (typeof c.topic !== 'string') throw new RangeError('--kv-events-config: topic must be a string');
  return c;
}

/** Whether the configuration publishes at all. */
export function publishes(c: KvEventsConfig | null | undefined): c is KvEventsConfig {
  return !!c && c.enableKvCacheEvents && c.publisher === 'zmq';
}
