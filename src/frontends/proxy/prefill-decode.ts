import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Exchange, Outcome, PrefillDecodePlan, PrefillDecodeTarget } from '../../core/types.js';
import { readCapped } from '../../http/read-capped.js';
import type { Logger } from '../../observability/logger.js';
import { concurrentPhases, decodeBody, newBootstrapRoom, prefillBody } from '../../scheduler/pd/convention.js';
import { proxyPrefills, proxyPrefillSeconds } from './metrics.js';

// One attempt of prefill/decode disaggregation run by the proxy itself (Kthena's convention; docs/scheduling.md):
// the prefill request to the prefill endpoint and the decode request to the decode endpoint, one after the other
// (http, nixl) or together (sglang). Its outcome is the decode response to stream to the client, a prefill rejection
// to return as is, or the failure of one phase before anything reached the client, which the caller may retry on
// another pair. Every response not handed back is consumed or destroyed here, and the prefill request is reported to
// the exchange exactly once, so the prefill endpoint's in-flight count always comes back.

/** The prefill answer is read whole (nixl needs its kv_transfer_params); an answer this large is not a prefill's. */
const MAX_PREFILL_BYTES = 8 * 1024 * 1024;

export type Phase = 'prefill' | 'decode';

export interface PairAttempt {
  pair: PrefillDecodeTarget;
  plan: PrefillDecodePlan;
  /** The client's path, which both phases use. */
  path: string;
  /** The upstream body of the client's request, sent to decode as is when the protocol adds nothing to it. */
  original: Buffer;
  /** Sends one phase's request; rejects when no response arrives (or `signal` aborts first). */
  send(address: string, body: Buffer, phase: Phase, signal: AbortSignal): Promise<Dispatcher.ResponseData>;
  /** The request's own signal: aborted when the client goes away or the target's timeout fires. */
  signal: AbortSignal;
  /** True once the client is gone: failures after that are cancellations. */
  cancelled(): boolean;
  exchange: Exchange;
  log: Logger;
}

export type PairOutcome =
  /** The decode endpoint answered (any status): handled like any upstream response. */
  | { kind: 'decode'; response: Dispatcher.ResponseData }
  /** The prefill endpoint refused the request (a 4xx other than 429): the client gets that answer as is. */
  | { kind: 'prefill_rejected'; response: Dispatcher.ResponseData }
  /** The prefill got no usable answer (none, a 5xx or 429, an unreadable body); `status` 0 = no response. */
  | { kind: 'prefill_failed'; status: number; err?: unknown }
  /** The decode request got no response. */
  | { kind: 'decode_failed'; err: unknown };

export function runPair(a: PairAttempt): Promise<PairOutcome> {
  return concurrentPhases(a.plan.protocol) ? concurrent(a) : sequential(a);
}

/** http and nixl: the prefill first, then, with what it returned, the decode. */
async function sequential(a: PairAttempt): Promise<PairOutcome> {
  const { pair, plan } = a;
  const prefill = new PrefillRequest(a);
  const body = Buffer.from(JSON.stringify(prefillBody(plan.body, plan.protocol, a.path)));
  let response: Dispatcher.ResponseData;
  try {
    response = await a.send(pair.prefill, body, 'prefill', a.signal);
  } catch (err) {
    return prefill.failed(0, err);
  }
  const status = response.statusCode;
  if (isRejection(status)) return prefill.rejected(response);
  if (!isSuccess(status)) {
    discard(response);
    return prefill.failed(status);
  }
  let text: string;
  try {
    text = await readText(response.body, MAX_PREFILL_BYTES);
  } catch (err) {
    return prefill.failed(status, err);
  }
  const decode = decodeRequest(a, text);
  prefill.end(status, decode.handshake ? 'success' : 'no_kv_params');
  try {
    return { kind: 'decode', response: await a.send(pair.decode, decode.body, 'decode', a.signal) };
  } catch (err) {
    return { kind: 'decode_failed', err };
  }
}

/**
 * sglang: both requests at once, joined by a bootstrap room (SGLang's prefill waits for the decode side to connect).
 * The decode response goes to the client only once the prefill answered 2xx; whichever side fails first cancels the
 * other, so a prefill never waits out its bootstrap timeout for a decode that is gone.
 */
async function concurrent(a: PairAttempt): Promise<PairOutcome> {
  const { pair, plan } = a;
  const room = newBootstrapRoom();
  const prefillBytes = Buffer.from(JSON.stringify(prefillBody(plan.body, 'sglang', a.path, room)));
  const decodeBytes = Buffer.from(JSON.stringify(decodeBody(plan.body, 'sglang', { prefillHost: pair.prefillIp, bootstrapRoom: room })));
  const prefillAbort = new AbortController();
  const decodeAbort = new AbortController();
  const prefill = new PrefillRequest(a);
  const prefillSent = settle(a.send(pair.prefill, prefillBytes, 'prefill', AbortSignal.any([a.signal, prefillAbort.signal])));
  const decodeSent = settle(a.send(pair.decode, decodeBytes, 'decode', AbortSignal.any([a.signal, decodeAbort.signal])));

  const first = await Promise.race([prefillSent.then(() => 'prefill' as const), decodeSent.then(() => 'decode' as const)]);
  if (first === 'decode') {
    const d = await decodeSent;
    if (!d.ok || !isSuccess(d.value.statusCode)) {
      prefillAbort.abort();
      const p = await prefillSent;
      if (p.ok) discard(p.value);
      prefill.end(0, 'cancelled');
      return d.ok ? { kind: 'decode', response: d.value } : { kind: 'decode_failed', err: d.error };
    }
  }
  const p = await prefillSent;
  if (!p.ok || !isSuccess(p.value.statusCode)) {
    decodeAbort.abort();
    const d = await decodeSent;
    if (d.ok) discard(d.value);
    if (!p.ok) return prefill.failed(0, p.error);
    if (isRejection(p.value.statusCode)) return prefill.rejected(p.value);
    discard(p.value);
    return prefill.failed(p.value.statusCode);
  }
  void drainPrefill(a, prefill, p.value);
  const d = await decodeSent;
  return d.ok ? { kind: 'decode', response: d.value } : { kind: 'decode_failed', err: d.error };
}

/** The sglang prefill answer is not needed, but it is read to the end (freeing the connection) and checked. */
async function drainPrefill(a: PairAttempt, prefill: PrefillRequest, response: Dispatcher.ResponseData): Promise<void> {
  try {
    JSON.parse(await readText(response.body, MAX_PREFILL_BYTES));
    prefill.end(response.statusCode, 'success');
  } catch (err) {
    if (!a.cancelled()) a.log.warn({ requestId: a.exchange.requestId, err: String(err) }, 'prefill answer unreadable');
    prefill.end(response.statusCode, a.cancelled() ? 'cancelled' : 'failed');
  }
}

let warnedNoKvParams = false;

/**
 * The decode request's body: nixl adds the prefill answer's kv_transfer_params; http sends the client's request.
 * `handshake` is false when a nixl prefill answer carried no kv_transfer_params.
 */
function decodeRequest(a: PairAttempt, prefillText: string): { body: Buffer; handshake: boolean } {
  if (a.plan.protocol !== 'nixl') return { body: a.original, handshake: true };
  const answer = parseObject(prefillText);
  const params = answer?.kv_transfer_params;
  if (typeof params === 'object' && params !== null) {
    return { body: Buffer.from(JSON.stringify(decodeBody(a.plan.body, 'nixl', { prefillResponse: answer }))), handshake: true };
  }
  // Without the handshake the decode engine still serves the request, computing the prompt itself (slower, not
  // wrong); a prefill engine without a NIXL connector answers like that, so say it once, and count every time.
  if (!warnedNoKvParams) {
    warnedNoKvParams = true;
    a.log.warn({ requestId: a.exchange.requestId, prefill: a.pair.prefill }, 'prefill answer has no kv_transfer_params; decode computes the prompt itself');
  }
  return { body: a.original, handshake: false };
}

type PrefillEnd = 'success' | 'no_kv_params' | 'rejected' | 'failed' | 'cancelled';

/** The prefill request of one attempt, as the exchange and the metrics see it: started once, ended once. */
class PrefillRequest {
  private readonly started = performance.now();
  private ended = false;

  constructor(private readonly a: PairAttempt) {
    a.exchange.prefillStarted?.(a.pair.prefill);
  }

  end(status: number, how: PrefillEnd): void {
    if (this.ended) return;
    this.ended = true;
    const outcome: Outcome = how === 'success' || how === 'no_kv_params' ? 'success' : how === 'cancelled' ? 'cancelled' : 'error';
    this.a.exchange.prefillEnded?.(this.a.pair.prefill, status, outcome);
    const protocol = this.a.plan.protocol;
    proxyPrefills.inc({ protocol, outcome: how });
    if (outcome === 'success') proxyPrefillSeconds.observe({ protocol }, (performance.now() - this.started) / 1000);
  }

  failed(status: number, err?: unknown): PairOutcome {
    this.end(status, this.a.cancelled() ? 'cancelled' : 'failed');
    return { kind: 'prefill_failed', status, err };
  }

  rejected(response: Dispatcher.ResponseData): PairOutcome {
    this.end(response.statusCode, 'rejected');
    return { kind: 'prefill_rejected', response };
  }
}

const isSuccess = (status: number): boolean => status >= 200 && status < 300;
/** A client error: the same request would fail the same way on any pod. */
const isRejection = (status: number): boolean => status >= 400 && status < 500 && status !== 429;

/** Drops a response nobody reads (its destruction errors the body stream: nobody listens for that). */
export function discard(response: Dispatcher.ResponseData): void {
  response.body.on('error', () => undefined);
  response.body.destroy();
}

type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

function settle<T>(p: Promise<T>): Promise<Settled<T>> {
  return p.then(
    (value) => ({ ok: true as const, value }),
    (error: unknown) => ({ ok: false as const, error }),
  );
}

async function readText(body: Readable, maxBytes: number): Promise<string> {
  const whole = await readCapped(body, maxBytes);
  if (!whole) throw new Error(`prefill answer exceeds ${maxBytes} bytes`);
  return whole.toString('utf8');
}

function parseObject(text: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
