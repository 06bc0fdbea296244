import { Cluster, Redis, type RedisOptions } from 'ioredis';
import { logger } from '../../observability/logger.js';
import { ThrottledLog } from '../auth/throttled-log.js';
import type { Outcome } from './algorithms.js';
import type { Algorithm, RedisSettings } from './config.js';
import { ACQUIRE_SCRIPT, ADJUST_SCRIPT, PEEK_SCRIPT } from './lua.js';
import type { DimSpec, LimitStore } from './store.js';

// Limit state in Redis (or Redis Cluster), shared by every router replica. Each call is one atomic Lua script on one
// key, bounded by `timeoutMs`; the caller applies the failure mode. Calls never queue behind a dead connection: a
// circuit opens as soon as the connection is known to be down (a refused or failed connect, a lost connection, or a
// call that waited `timeoutMs` for the first connect), and while it is open every call fails at once, so fail-open
// admits without delay, at start as well as later. ioredis reconnects in the background (backoff up to 2 s); the
// circuit closes when the connection is ready again, and limits are enforced again from that moment.

interface ScriptClient {
  rlAcquire(key: string, ...args: Array<string | number>): Promise<number[]>;
  rlPeek(key: string, ...args: Array<string | number>): Promise<number[]>;
  rlAdjust(key: string, ...args: Array<string | number>): Promise<number>;
}

const log = new ThrottledLog(logger);

export class RedisStore implements LimitStore {
  readonly kind = 'redis';
  private readonly client: Redis | Cluster;
  private readonly label: string;
  private failing = false;
  /** The connection is known to be down: calls fail at once until it is ready again. */
  private circuitOpen = false;

  constructor(
    address: string,
    private readonly settings: Pick<RedisSettings, 'cluster' | 'timeoutMs'>,
    private readonly algo: Algorithm,
  ) {
    this.label = redactAddress(address);
    const options: RedisOptions = {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      commandTimeout: settings.timeoutMs,
      connectTimeout: Math.max(1000, settings.timeoutMs),
      retryStrategy: (attempt) => Math.min(100 * attempt, 2000),
    };
    const url = /^rediss?:\/\//.test(address) ? new URL(address) : new URL(`redis://${address}`);
    if (settings.cluster) {
      this.client = new Cluster([{ host: url.hostname, port: Number(url.port || 6379) }], {
        enableOfflineQueue: false,
        clusterRetryStrategy: (attempt) => Math.min(100 * attempt, 2000),
        redisOptions: { ...options, username: url.username || undefined, password: url.password || undefined },
      });
    } else {
      this.client = /^rediss?:\/\//.test(address)
        ? new Redis(address, options)
        : new Redis({ ...options, host: url.hostname, port: Number(url.port) });
    }
    this.client.defineCommand('rlAcquire', { numberOfKeys: 1, lua: ACQUIRE_SCRIPT });
    this.client.defineCommand('rlAdjust', { numberOfKeys: 1, lua: ADJUST_SCRIPT });
    this.client.defineCommand('rlPeek', { numberOfKeys: 1, lua: PEEK_SCRIPT });
    this.client.on('error', (err: Error) => this.markFailing(err));
    this.client.on('close', () => (this.circuitOpen = true));
    this.client.on('ready', () => {
      this.circuitOpen = false;
      if (this.failing) logger.info({ redis: this.label }, 'rate-limit Redis reachable again');
      this.failing = false;
      log.reset(this.label);
    });
  }

  get address(): string {
    return this.label;
  }

  async acquire(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }> {
    return this.outcomes(dims, await this.run((c) => c.rlAcquire(key, ...this.args(dims, costs))));
  }

  /** Only an optimisation ahead of `acquire`: refused at once, without waiting for a connection, when not connected. */
  async peek(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }> {
    if (this.client.status !== 'ready') throw new Error(`Redis ${this.label} not connected`);
    return this.outcomes(dims, await (this.client as unknown as ScriptClient).rlPeek(key, ...this.args(dims, costs)));
  }

  private outcomes(dims: DimSpec[], reply: number[]): { ok: boolean; outcomes: Outcome[] } {
    const outcomes = dims.map((_, i) => ({
      ok: true,
      remaining: Number(reply[1 + 3 * i]),
      resetMs: Number(reply[2 + 3 * i]),
      retryAfterMs: Number(reply[3 + 3 * i]),
    }));
    const ok = Number(reply[0]) === 1;
    if (!ok) outcomes.forEach((o) => (o.ok = o.retryAfterMs === 0));
    return { ok, outcomes };
  }

  async adjust(key: string, dims: DimSpec[], deltas: number[]): Promise<void> {
    await this.run((c) => c.rlAdjust(key, ...this.args(dims, deltas)));
  }

  async close(): Promise<void> {
    this.client.disconnect();
  }

  /** Resolves once connected (tests, startup warm-up). */
  ready(timeoutMs = 5000): Promise<void> {
    return this.whenReady(timeoutMs);
  }

  private args(dims: DimSpec[], values: number[]): Array<string | number> {
    const out: Array<string | number> = [this.algo, dims.length];
    dims.forEach((d, i) => out.push(d.field, d.limit, d.windowMs, values[i]!));
    return out;
  }

  private async run<T>(op: (c: ScriptClient) => Promise<T>): Promise<T> {
    if (this.circuitOpen && this.client.status !== 'ready') {
      throw new Error(`Redis ${this.label} unavailable (${this.client.status})`);
    }
    try {
      if (this.client.status !== 'ready') await this.whenReady(this.settings.timeoutMs);
      return await op(this.client as unknown as ScriptClient);
    } catch (err) {
      if (this.client.status !== 'ready') this.circuitOpen = true;
      this.markFailing(err as Error);
      throw err;
    }
  }

  /** Resolves when the connection is ready; fails when it closes first or after `timeoutMs`. */
  private whenReady(timeoutMs: number): Promise<void> {
    if (this.client.status === 'ready') return Promise.resolve();
    return new Promise((resolve, reject) => {
      const settle = (err?: Error) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onReady = () => settle();
      const onClose = () => settle(new Error(`Redis ${this.label} connection closed`));
      const timer = setTimeout(() => settle(new Error(`Redis ${this.label} not connected (${this.client.status})`)), timeoutMs);
      this.client.once('ready', onReady);
      this.client.once('close', onClose);
    });
  }

  private markFailing(err: Error): void {
    this.failing = true;
    log.warn(this.label, { redis: this.label, err: err.message }, 'rate-limit Redis unavailable');
  }
}

/** host:port without credentials, for logs and metrics. */
export function redactAddress(address: string): string {
  try {
    const u = new URL(/^rediss?:\/\//.test(address) ? address : `redis://${address}`);
    return `${u.hostname}:${u.port || 6379}`;
  } catch {
    return 'redis';
  }
}
