// How a picked prefill/decode pair is handed to the engines (see docs/scheduling.md, "Prefill/decode"). Pure
// request-body transforms; the front door sends the requests.

type Body = Record<string, unknown>;

/**
 * `http` (also LMCache): prefill, then the original request to decode; the connector moves the KV cache.
 * `nixl` (also Mooncake): vLLM's kv_transfer_params handshake, prefill first. `sglang`: both at once, joined by a
 * bootstrap room.
 */
export type PdProtocol = 'http' | 'nixl' | 'sglang';

/** Header naming the prefill endpoint (`ip:port`) for llm-d's routing sidecar on the decode pod (ext_proc mode). */
export const PREFILLER_HEADER = 'x-prefiller-host-port';

/** Protocol from ModelServer.spec.inferenceEngine and kvConnector.type (Kthena's mapping). */
export function pdProtocol(engine: string, kvConnectorType: string | undefined): PdProtocol {
  if (engine.toLowerCase() === 'sglang') return 'sglang';
  const t = kvConnectorType?.toLowerCase();
  return t === 'nixl' || t === 'mooncake' ? 'nixl' : 'http';
}

/** Whether prefill and decode requests must be in flight together (SGLang) or one after the other. */
export function concurrentPhases(p: PdProtocol): boolean {
  return p === 'sglang';
}

/** A random 63-bit-safe bootstrap room id for SGLang (same value in both requests). */
export function newBootstrapRoom(random: () => number = Math.random): number {
  return Math.floor(random() * Number.MAX_SAFE_INTEGER);
}

/** The prefill request: not streamed, one output token; plus the protocol's handshake fields. */
export function prefillBody(body: Body, p: PdProtocol, path: string, bootstrapRoom?: number): Body {
  const out: Body = { ...body };
  delete out.stream;
  delete out.stream_options;
  if (path.startsWith('/v1/responses')) {
    out.max_output_tokens = 1;
  } else {
    out.max_tokens = 1;
    if (out.max_completion_tokens !== undefined) out.max_completion_tokens = 1;
  }
  if (p === 'nixl') {
    out.kv_transfer_params = {
      do_remote_decode: true,
      do_remote_prefill: false,
      remote_engine_id: null,
      remote_block_ids: null,
      remote_host: null,
      remote_port: null,
    };
  }
  if (p === 'sglang') out.bootstrap_room = requireRoom(bootstrapRoom);
  return out;
}

export interface DecodeContext {
  /** nixl: the prefill response's JSON body, whose kv_transfer_params the decode request carries. */
  prefillResponse?: unknown;
  /** sglang: the prefill endpoint's IP, and its bootstrap port when not the default (8998). */
  prefillHost?: string;
  bootstrapPort?: number;
  bootstrapRoom?: number;
}

/** The decode request: the client's request plus what the protocol needs from the prefill side. */
export function decodeBody(body: Body, p: PdProtocol, ctx: DecodeContext = {}): Body {
  const out: Body = { ...body };
  if (p === 'nixl') {
    const params = (ctx.prefillResponse as Body | undefined)?.kv_transfer_params;
    if (params === undefined) throw new Error('prefill response has no kv_transfer_params');
    out.kv_transfer_params = params;
  }
  if (p === 'sglang') {
    if (!ctx.prefillHost) throw new Error('sglang decode needs the prefill host');
    out.bootstrap_host = ctx.prefillHost;
    out.bootstrap_room = requireRoom(ctx.bootstrapRoom);
    if (ctx.bootstrapPort !== undefined) out.bootstrap_port = ctx.bootstrapPort;
  }
  return out;
}

function requireRoom(room: number | undefined): number {
  if (room === undefined || !Number.isSafeInteger(room) || room < 0) throw new Error('sglang needs a bootstrap room id');
  return room;
}
