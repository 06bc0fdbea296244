import { Redis } from 'ioredis';
import { logger } from '../../observability/logger.js';
import { LruMap } from './lru.js';

export interface SharedBlocksOptions {
  /** Redis keys are `${keyPrefix}${model}@${blockHash}`, hashes whose fields are endpoint addresses. */
  keyPrefix: string;
  /** Ownership older than this is ignored; keys expire this long after their last write. */
  ttlSeconds: number;
  /** A block's owners are re-read at most this often. */
  refreshMs: number;
  /** Write-behind and read-ahead batching interval. */
  flushMs: number;
  /** Blocks whose owners are cached locally (LRU). */
  maxCachedBlocks: number;
  /** Bound on queued writes and reads while Redis is slow or down. */
  maxPending: number;
}

interface Known {
  owners: Set<string>;
  fetchedAt: number;
}

/**
 * Block ownership shared by router replicas through Redis. Decisions never wait on Redis: `owners` answers from a
 * local cache and queues a background read when the entry is missing or old; `record` queues a write. A timer
 * flushes both in one pipeline every `flushMs`. While Redis is unreachable reads are dropped and the router
 * decides on its own index alone.
 */
export class SharedBlockOwners {
  private readonly known: LruMap<number, Known>;
  private reads = new Map<number, string>();
  private writes = new Map<string, Set<string>>();
  private pendingWrites = 0;
  private readonly timer: NodeJS.Timeout;
  private running?: Promise<void>;

  /** Connects to Redis at `host:port`; the instance owns the connection and closes it in `close`. */
  static connect(address: string, o: SharedBlocksOptions): SharedBlockOwners {
    return new SharedBlockOwners(connectRedis(address), o, Date.now, true);
  }

  constructor(
    private readonly redis: Redis,
    private readonly o: SharedBlocksOptions,
    private readonly now: () => number = Date.now,
    private readonly ownsConnection = false,
  ) {
    this.known = new LruMap(o.maxCachedBlocks);
    this.timer = setInterval(() => void this.flush(), o.flushMs);
    this.timer.unref();
  }

  /** Endpoints other routers reported for a block, as last read; undefined when not read yet. */
  owners(hash: number, model: string): ReadonlySet<string> | undefined {
    const k = this.known.peek(hash);
    const age = k ? this.now() - k.fetchedAt : Infinity;
    if (age > this.o.refreshMs && this.reads.size < this.o.maxPending) this.reads.set(hash, this.key(model, hash));
    // An answer older than the TTL (Redis unreachable since) is no evidence any more.
    return age <= this.o.ttlSeconds * 1000 ? k?.owners : undefined;
  }

  record(hashes: readonly number[], model: string, address: string): void {
    for (const h of hashes) {
      if (this.pendingWrites >= this.o.maxPending) return;
      const key = this.key(model, h);
      let set = this.writes.get(key);
      if (!set) this.writes.set(key, (set = new Set()));
      if (!set.has(address)) {
        set.add(address);
        this.pendingWrites++;
      }
    }
  }

  /** Sends queued writes and reads now; resolves when their answers are applied. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    this.running = this.round().finally(() => (this.running = undefined));
    await this.running;
  }

  /** Stops the timer after a last flush, and closes the connection if this instance opened it. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    if (!this.ownsConnection) return;
    // quit() waits for pending replies but fails while disconnected; disconnect() also stops reconnecting.
    if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
    else this.redis.disconnect();
  }

  private key(model: string, hash: number): string {
    return `${this.o.keyPrefix}${model}@${hash}`;
  }

  private async round(): Promise<void> {
    if (this.redis.status !== 'ready') {
      this.reads.clear();
      return;
    }
    const writes = this.writes;
    const reads = this.reads;
    if (writes.size === 0 && reads.size === 0) return;
    this.writes = new Map();
    this.reads = new Map();
    this.pendingWrites = 0;
    const nowSec = Math.floor(this.now() / 1000);
    const p = this.redis.pipeline();
    for (const [key, addresses] of writes) {
      p.hset(key, Object.fromEntries([...addresses].map((a) => [a, nowSec])));
      p.expire(key, this.o.ttlSeconds);
    }
    for (const key of reads.values()) p.hgetall(key);
    let results: Array<[Error | null, unknown]> | null;
    try {
      results = await p.exec();
    } catch (err) {
      logger.debug({ err: String(err) }, 'shared prefix index: redis round failed');
      return;
    }
    if (!results) return;
    const fetchedAt = this.now();
    let i = writes.size * 2;
    for (const hash of reads.keys()) {
      const [err, fields] = results[i++] ?? [new Error('missing reply'), null];
      if (err || !fields || typeof fields !== 'object') continue;
      const owners = new Set<string>();
      for (const [address, at] of Object.entries(fields as Record<string, string>)) {
        if (nowSec - Number(at) <= this.o.ttlSeconds) owners.add(address);
      }
      this.known.set(hash, { owners, fetchedAt });
    }
  }
}

function connectRedis(address: string): Redis {
  const i = address.lastIndexOf(':');
  const client = new Redis({
    host: address.slice(0, i),
    port: Number(address.slice(i + 1)),
    // Fail fast while disconnected: the index is an optimisation, never a reason to wait.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: 2000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 5000),
  });
  let lastLog = 0;
  client.on('error', (err: Error) => {
    if (Date.now() - lastLog < 30_000) return;
    lastLog = Date.now();
    logger.warn({ err: err.message, address }, 'shared prefix index: redis unavailable; using the local index only');
  });
  return client;
}
