import { randomUUID } from 'node:crypto';
import { logger } from '../observability/logger.js';
import { badRequest } from './api-error.js';
import type { Engine } from './engine.js';
import type { InferenceRequest } from './openai-request.js';
import type { SimOptions } from './options.js';
import { LOCAL_PHASE, type PdPhase, type PdRole } from './pd-role.js';
import { hostPort, kvTransferDelay, postJson } from './peer-http.js';
import type { SimRequest } from './sequence.js';

// vLLM's NixlConnector (kv_role kv_both) as the simulator plays it. A request whose kv_transfer_params say
// do_remote_decode is a prefill for another engine: it runs as usual (the router asks for one token), keeps its KV
// blocks, and its answer carries kv_transfer_params telling the decode engine where they are (do_remote_prefill,
// remote_engine_id, remote_block_ids, remote_host, remote_port, ...). A request with do_remote_prefill first reads
// those blocks, over the prefill simulator's HTTP port (standing in for NIXL's side channel and RDMA read), then
// computes only its last prompt token. The prefill engine frees the blocks once read, or after --kv-transfer-timeout-ms
// (vLLM's VLLM_NIXL_ABORT_REQUEST_TIMEOUT). A read that fails (blocks gone, engine down) leaves the decode engine to
// compute the prompt itself, like vLLM's recompute policy.

export const KV_READ_PATH = '/sim/nixl/read';

const log = logger.child({ component: 'sim-nixl' });

export class NixlConnector implements PdRole {
  private readonly engineId = randomUUID();
  private readonly held = new Map<string, { req: SimRequest; timer: NodeJS.Timeout }>();

  constructor(
    private readonly engine: Engine,
    private readonly options: SimOptions,
    /** Where this simulator serves, known once it listens (remote_host / remote_port of its answers). */
    private readonly self: () => { host: string; port: number },
  ) {}

  async begin(r: InferenceRequest, promptLen: number, signal: AbortSignal): Promise<PdPhase> {
    const p = r.kvTransferParams;
    // A streamed answer has no place for the kv_transfer_params: such a request is served here, start to end.
    if (p?.do_remote_decode === true && !r.stream) {
      return { remotePrefixTokens: 0, holdKv: true, finished: (req) => ({ kv_transfer_params: this.hold(req) }) };
    }
    if (p?.do_remote_prefill === true) return { remotePrefixTokens: await this.read(p, promptLen, signal), holdKv: false };
    return LOCAL_PHASE;
  }

  sideChannel(path: string, body: unknown): { status: number; body: object } | undefined {
    if (path !== KV_READ_PATH) return undefined;
    const b = (body ?? {}) as { remote_engine_id?: unknown; remote_request_id?: unknown };
    const held = typeof b.remote_request_id === 'string' ? this.held.get(b.remote_request_id) : undefined;
    if (!held || b.remote_engine_id !== this.engineId) return { status: 404, body: { error: 'no KV held for this request' } };
    const blocks = held.req.blocks.length;
    this.release(b.remote_request_id as string);
    return { status: 200, body: { blocks } };
  }

  close(): Promise<void> {
    for (const id of [...this.held.keys()]) this.release(id);
    return Promise.resolve();
  }

  /** Keeps a finished prefill's blocks for the decode engine; the kv_transfer_params that name them. */
  private hold(req: SimRequest): Record<string, unknown> {
    const id = `${this.engineId}-${req.id}`;
    const timer = setTimeout(() => this.release(id), this.options.kvTransferTimeoutMs);
    timer.unref();
    this.held.set(id, { req, timer });
    const { host, port } = this.self();
    return {
      do_remote_prefill: true,
      do_remote_decode: false,
      remote_engine_id: this.engineId,
      remote_block_ids: [...req.blocks],
      remote_request_id: id,
      remote_host: host,
      remote_port: port,
      tp_size: 1,
    };
  }

  private release(id: string): void {
    const held = this.held.get(id);
    if (!held) return;
    clearTimeout(held.timer);
    this.held.delete(id);
    this.engine.releaseHeld(held.req);
  }

  /** Reads the prefill engine's blocks; the prompt tokens they cover, 0 when the read failed (recompute). */
  private async read(p: Record<string, unknown>, promptLen: number, signal: AbortSignal): Promise<number> {
    const { remote_host: host, remote_port: port } = p;
    if (typeof host !== 'string' || host === '' || !Number.isInteger(port)) {
      throw badRequest('kv_transfer_params with do_remote_prefill needs remote_host and remote_port', 'kv_transfer_params');
    }
    const url = `http://${hostPort(host, port as number)}${KV_READ_PATH}`;
    const ask = { remote_engine_id: p.remote_engine_id, remote_request_id: p.remote_request_id, remote_block_ids: p.remote_block_ids };
    try {
      const reply = await postJson(url, ask, AbortSignal.any([signal, AbortSignal.timeout(this.options.kvTransferTimeoutMs)]));
      if (reply.status !== 200) {
        log.debug({ status: reply.status }, 'remote KV unavailable; recomputing the prompt');
        return 0;
      }
    } catch (err) {
      if (signal.aborted) throw err;
      log.debug({ err: String(err) }, 'remote KV read failed; recomputing the prompt');
      return 0;
    }
    const tokens = Math.max(0, promptLen - 1);
    await kvTransferDelay(tokens, this.options.kvTransferMsPer1kTokens, this.options.timeScale, signal);
    return tokens;
  }
}
