import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiError, badRequest } from './api-error.js';
import type { InferenceRequest } from './openai-request.js';
import type { SimOptions } from './options.js';
import type { PdPhase, PdRole } from './pd-role.js';
import { hostPort, kvTransferDelay, postJson, type PeerReply } from './peer-http.js';

// SGLang's prefill/decode disaggregation as the simulator plays it. Both requests of a pair carry the same
// bootstrap_room; the decode request also names the prefill server (bootstrap_host, and bootstrap_port unless it is
// SGLang's default 8998). A prefill-mode server runs a bootstrap server; the decode-mode server's request joins its
// room there and waits for the KV. The prefill request waits, before it is scheduled, until a decode request joined
// its room (SGLang's bootstrap queue), then computes the prompt, hands the KV over and answers. Either side gives up
// after --kv-transfer-timeout-ms (SGLang's bootstrap and waiting timeouts) with an error. The join is one HTTP POST
// answered when the KV was sent, standing in for SGLang's bootstrap handshake and KV transfer.

export const JOIN_PATH = '/sim/bootstrap/join';
export const DEFAULT_BOOTSTRAP_PORT = 8998;

/** The prefill side's view of a room a decode request joined: report the KV sent, or lost. */
export interface RoomHandle {
  sent(tokens: number): void;
  failed(reason: string): void;
}

interface Waiter<T> {
  resolve(value: T): void;
  reject(err: Error): void;
}

interface Room {
  /** The prefill request, waiting for a decode request to join (until it does). */
  prefill?: Waiter<RoomHandle>;
  prefillArrived: boolean;
  /** The decode request, waiting for the KV. */
  decode?: Waiter<number>;
}

/** Rendezvous of prefill and decode requests by room id, on the prefill server. */
export class BootstrapRooms {
  private readonly rooms = new Map<number, Room>();

  constructor(private readonly timeoutMs: number) {}

  /** Rooms with a request waiting (for tests and leak checks). */
  get size(): number {
    return this.rooms.size;
  }

  /** Prefill side: resolves once a decode request joined `room`; rejects after the timeout or when `signal` aborts. */
  awaitDecode(room: number, signal: AbortSignal): Promise<RoomHandle> {
    const r = this.room(room);
    if (r.prefillArrived) return Promise.reject(badRequest(`bootstrap_room ${room} is already in use`, 'bootstrap_room'));
    r.prefillArrived = true;
    if (r.decode) return Promise.resolve(this.handle(room, r));
    return this.wait(room, signal, `no decode request joined bootstrap_room ${room}`, (w) => (r.prefill = w));
  }

  /** Decode side: joins `room`; resolves with the prompt tokens sent once the prefill sent its KV. */
  join(room: number, signal: AbortSignal): Promise<number> {
    const r = this.room(room);
    if (r.decode) return Promise.reject(badRequest(`bootstrap_room ${room} already has a decode request`, 'bootstrap_room'));
    const kv = this.wait<number>(room, signal, `the prefill of bootstrap_room ${room} sent no KV`, (w) => (r.decode = w));
    const prefill = r.prefill;
    r.prefill = undefined;
    prefill?.resolve(this.handle(room, r));
    return kv;
  }

  close(): void {
    for (const [id, r] of this.rooms) {
      const err = new ApiError(503, `bootstrap_room ${id}: the server is shutting down`);
      r.prefill?.reject(err);
      r.decode?.reject(err);
    }
    this.rooms.clear();
  }

  private room(id: number): Room {
    let r = this.rooms.get(id);
    if (!r) this.rooms.set(id, (r = { prefillArrived: false }));
    return r;
  }

  private handle(id: number, r: Room): RoomHandle {
    const settle = (fn: (w: Waiter<number>) => void): void => {
      const w = r.decode;
      r.decode = undefined;
      if (this.rooms.get(id) === r) this.rooms.delete(id);
      if (w) fn(w);
    };
    return {
      sent: (tokens) => settle((w) => w.resolve(tokens)),
      failed: (reason) => settle((w) => w.reject(new ApiError(500, `KV transfer of bootstrap_room ${id} failed: ${reason}`))),
    };
  }

  /** Waits as `install` registers; a timeout or abort removes the waiter and forgets the room if nobody else is in it. */
  private wait<T>(id: number, signal: AbortSignal, timeoutMessage: string, install: (w: Waiter<T>) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const r = this.rooms.get(id)!;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
      };
      const giveUp = (err: Error): void => {
        if (r.prefill === waiter) r.prefill = undefined;
        if (r.decode === waiter) r.decode = undefined;
        if (!r.prefill && !r.decode && this.rooms.get(id) === r) this.rooms.delete(id);
        done();
        reject(err);
      };
      const waiter: Waiter<T> = {
        resolve: (v) => {
          done();
          resolve(v);
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const timer = setTimeout(() => giveUp(new ApiError(500, `KVTransferError: ${timeoutMessage} within ${this.timeoutMs} ms`)), this.timeoutMs);
      const onAbort = (): void => giveUp(new ApiError(499, `bootstrap_room ${id}: request cancelled`));
      if (signal.aborted) {
        onAbort();
        return;
      }
      signal.addEventListener('abort', onAbort, { once: true });
      install(waiter);
    });
  }
}

/** A prefill-mode SGLang: its requests wait in their room for the decode request, and it serves the bootstrap server. */
export class SglangPrefill implements PdRole {
  private readonly rooms: BootstrapRooms;
  private server: Server | undefined;

  constructor(private readonly options: SimOptions) {
    this.rooms = new BootstrapRooms(options.kvTransferTimeoutMs);
  }

  /** Starts the bootstrap server on `host`; resolves with its port. */
  async listen(host: string): Promise<number> {
    const server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://sim').pathname;
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        const abort = new AbortController();
        res.on('close', () => abort.abort());
        const reply = (status: number, body: object): void => {
          if (res.destroyed) return;
          const data = JSON.stringify(body);
          res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) });
          res.end(data);
        };
        const room = parseRoom(Buffer.concat(parts));
        if (req.method !== 'POST' || path !== JOIN_PATH) return reply(404, { error: `no route ${path}` });
        if (room === undefined) return reply(400, { error: 'body must be {"room": <non-negative integer>}' });
        this.rooms.join(room, abort.signal).then(
          (tokens) => reply(200, { room, tokens }),
          (err: unknown) => reply(err instanceof ApiError ? err.status : 500, { error: String((err as Error).message) }),
        );
      });
    });
    this.server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.disaggregationBootstrapPort, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    return (server.address() as AddressInfo).port;
  }

  async begin(r: InferenceRequest, _promptLen: number, signal: AbortSignal): Promise<PdPhase> {
    const room = r.bootstrap.room;
    if (room === undefined) throw badRequest('a prefill-mode server needs bootstrap_room', 'bootstrap_room');
    const handle = await this.rooms.awaitDecode(room, signal);
    return {
      remotePrefixTokens: 0,
      holdKv: false,
      finished: (req) => {
        handle.sent(req.promptLen);
        return undefined;
      },
      abandoned: () => handle.failed('the prefill request ended early'),
    };
  }

  sideChannel(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.rooms.close();
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

/** A decode-mode SGLang: each request joins its room on the prefill server and waits for the prompt's KV. */
export class SglangDecode implements PdRole {
  constructor(private readonly options: SimOptions) {}

  async begin(r: InferenceRequest, promptLen: number, signal: AbortSignal): Promise<PdPhase> {
    const { host, port = DEFAULT_BOOTSTRAP_PORT, room } = r.bootstrap;
    if (host === undefined || room === undefined) {
      throw badRequest('a decode-mode server needs bootstrap_host and bootstrap_room', 'bootstrap_room');
    }
    const url = `http://${hostPort(host, port)}${JOIN_PATH}`;
    let reply: PeerReply;
    try {
      reply = await postJson(url, { room }, AbortSignal.any([signal, AbortSignal.timeout(this.options.kvTransferTimeoutMs)]));
    } catch (err) {
      if (signal.aborted) throw err;
      throw new ApiError(500, `KVTransferError: bootstrap_room ${room}: the prefill server at ${hostPort(host, port)} is unreachable or sent no KV`);
    }
    if (reply.status !== 200) {
      const message = (reply.body as { error?: unknown } | undefined)?.error;
      throw new ApiError(500, `KVTransferError: ${typeof message === 'string' ? message : `bootstrap failed with ${reply.status}`}`);
    }
    const tokens = Math.max(0, promptLen - 1);
    await kvTransferDelay(tokens, this.options.kvTransferMsPer1kTokens, this.options.timeScale, signal);
    return { remotePrefixTokens: tokens, holdKv: false };
  }

  sideChannel(): undefined {
    return undefined;
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

function parseRoom(body: Buffer): number | undefined {
  try {
    const room: unknown = (JSON.parse(body.toString('utf8')) as { room?: unknown } | null)?.room;
    return Number.isSafeInteger(room) && (room as number) >= 0 ? (room as number) : undefined;
  } catch {
    return undefined;
  }
}
