import { splitChunks } from './chunking.js';
import type { ResponseHeadersChange } from '../../core/types.js';
import { overwriteHeader } from './header-map.js';
import { loadProtos } from './proto.js';
import {
  ResponseStatus,
  type CommonResponse,
  type HeaderMutation,
  type HeaderValueOption,
  type ProcessingMode,
  type ProcessingResponse,
  type Struct,
} from './wire.js';

// Builders for the ProcessingResponse messages the front door sends.

export type HeadersPhase = 'request_headers' | 'response_headers';
export type BodyPhase = 'request_body' | 'response_body';
export type TrailersPhase = 'request_trailers' | 'response_trailers';

export function headersReply(phase: HeadersPhase, common: CommonResponse = {}, extra: Extra = {}): ProcessingResponse {
  return { [phase]: { response: { status: ResponseStatus.CONTINUE, ...common } }, ...extra };
}

export function bodyReply(phase: BodyPhase, common: CommonResponse = {}, extra: Extra = {}): ProcessingResponse {
  return { [phase]: { response: { status: ResponseStatus.CONTINUE, ...common } }, ...extra };
}

export function trailersReply(phase: TrailersPhase): ProcessingResponse {
  return { [phase]: {} };
}

interface Extra {
  dynamic_metadata?: Struct;
  mode_override?: ProcessingMode;
}

/** A body re-emitted as FULL_DUPLEX_STREAMED chunks; the last carries `endOfStream`. */
export function streamedBodyReplies(phase: BodyPhase, body: Buffer, endOfStream: boolean): ProcessingResponse[] {
  const chunks = splitChunks(body);
  return chunks.map((chunk, i) =>
    bodyReply(phase, {
      body_mutation: { streamed_response: { body: chunk, end_of_stream: endOfStream && i === chunks.length - 1 } },
    }),
  );
}

/** A local reply. Envoy refuses codes outside envoy.type.v3.StatusCode, so others map to their class. */
export function immediateReply(
  status: number,
  headers: Record<string, string>,
  body: Buffer,
  details: string,
): ProcessingResponse {
  const set_headers = Object.entries(headers).map(([k, v]) => overwriteHeader(k, v));
  return {
    immediate_response: { status: { code: envoyStatusCode(status) }, headers: { set_headers }, body, details },
  };
}

export function envoyStatusCode(status: number): number {
  if (loadProtos().httpStatusCodes.has(status)) return status;
  return status >= 400 && status < 500 ? 400 : 500;
}

/** A header mutation that only sets content-length (a replaced buffered body must match it). */
export function contentLengthMutation(length: number): HeaderMutation {
  return { set_headers: [overwriteHeader('content-length', String(length))] };
}

/**
 * The exchange's change to the response headers as a header mutation (a new status is a `:status` mutation, which
 * Envoy applies on the response headers phase), plus `extra` headers to set.
 */
export function responseHeadersMutation(change: ResponseHeadersChange | void, extra: HeaderValueOption[] = []): HeaderMutation | undefined {
  const set = [...extra];
  if (change?.status !== undefined) set.push(overwriteHeader(':status', String(change.status)));
  for (const [name, value] of Object.entries(change?.setHeaders ?? {})) set.push(overwriteHeader(name, value));
  const remove = change?.removeHeaders ?? [];
  if (set.length === 0 && remove.length === 0) return undefined;
  return { ...(set.length > 0 && { set_headers: set }), ...(remove.length > 0 && { remove_headers: remove }) };
}
