// Random and mutated inputs for the fuzz suite: OpenAI-style JSON bodies, ext_proc message scripts and raw HTTP
// requests. Everything draws from one seeded generator so that a failing case can be replayed with FUZZ_SEED.
import type { HeaderValue, ProcessingRequest } from '../../src/frontends/extproc/wire.js';

export class Rng {
  private s: number;
  constructor(seed: number) {
    this.s = seed >>> 0 || 1;
  }

  /** xorshift32: fast, and good enough to spread cases. */
  next(): number {
    let x = this.s;
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    this.s = x >>> 0;
    return this.s / 0x1_0000_0000;
  }

  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  string(max: number): string {
    const alphabets = ['abc xyz', 'Hello world, 日本語 😀 ', '\u0000\u0001\"\\\n\t\r', '{}[]:,"', '0123456789.-eE+'];
    const alphabet = [...this.pick(alphabets)];
    let out = '';
    for (let i = this.int(max + 1); i > 0; i--) out += this.pick(alphabet);
    return out;
  }
}

const MODELS = ['llama', 'llama-canary', 'unknown-model', '', 'meta-llama/Llama-3.1-8B-Instruct', 'llama\u0000', 'LLAMA'];
const PATHS = [
  '/v1/chat/completions',
  '/v1/completions',
  '/v1/embeddings',
  '/v1/responses',
  '/v1/models',
  '/v1/messages',
  '/metrics',
  '/../../etc/passwd',
  '/v1/chat/completions?x=1',
  '/%2e%2e/admin/fail',
  '',
  '*',
];

/** A JSON value of bounded depth and size, of any type. */
export function randomJson(rng: Rng, depth = 3): unknown {
  const kind = rng.int(depth <= 0 ? 5 : 7);
  switch (kind) {
    case 0:
      return null;
    case 1:
      return rng.chance(0.5);
    case 2:
      return rng.pick([0, -1, 1e308, -1e-308, 2 ** 53 + 1, 0.5, rng.int(100000)]);
    case 3:
    case 4:
      return rng.string(24);
    case 5:
      return Array.from({ length: rng.int(5) }, () => randomJson(rng, depth - 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = rng.int(5); i > 0; i--) o[rng.pick(['model', 'messages', 'prompt', 'stream', 'max_tokens', 'user', rng.string(6)])] = randomJson(rng, depth - 1);
      return o;
    }
  }
}

/** A request body that is mostly well-formed OpenAI JSON with a few wrong types or values. */
export function plausibleBody(rng: Rng): Record<string, unknown> {
  const body: Record<string, unknown> = { model: rng.pick(MODELS) };
  if (rng.chance(0.7)) {
    body.messages = rng.chance(0.8)
      ? Array.from({ length: 1 + rng.int(3) }, () => ({
          role: rng.pick(['user', 'system', 'assistant', 'tool', 42]),
          content: rng.chance(0.8) ? rng.string(64) : randomJson(rng, 2),
        }))
      : randomJson(rng, 2);
  } else {
    body.prompt = rng.chance(0.8) ? rng.string(64) : randomJson(rng, 2);
  }
  if (rng.chance(0.4)) body.stream = rng.chance(0.7) ? true : randomJson(rng, 1);
  if (rng.chance(0.4)) body.max_tokens = rng.pick([1, 4, 16, 0, -5, 1e9, 'ten', null, 2.5]);
  if (rng.chance(0.2)) body.stream_options = { include_usage: rng.chance(0.5) };
  if (rng.chance(0.2)) body.user = rng.pick(['alice', '', 7, null]);
  if (rng.chance(0.2)) body[rng.string(8)] = randomJson(rng, 2);
  return body;
}

/** Bytes of a request body: plausible JSON, random JSON, mutated JSON, or garbage. */
export function randomBody(rng: Rng): Buffer {
  const roll = rng.int(10);
  if (roll < 5) return Buffer.from(JSON.stringify(plausibleBody(rng)));
  if (roll < 7) return Buffer.from(JSON.stringify(randomJson(rng, 4)));
  if (roll < 9) return mutate(rng, Buffer.from(JSON.stringify(plausibleBody(rng))));
  return rng.bytes(rng.int(200));
}

/** Flips, deletes, duplicates or truncates a few bytes. */
export function mutate(rng: Rng, input: Buffer): Buffer {
  let b = Buffer.from(input);
  for (let n = 1 + rng.int(4); n > 0 && b.length > 0; n--) {
    const at = rng.int(b.length);
    switch (rng.int(5)) {
      case 0:
        b[at] = rng.int(256);
        break;
      case 1:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + rng.int(8))]);
        break;
      case 2:
        b = Buffer.concat([b.subarray(0, at), b.subarray(at, at + 1 + rng.int(16)), b.subarray(at)]);
        break;
      case 3:
        b = b.subarray(0, at);
        break;
      default:
        b = Buffer.concat([b.subarray(0, at), Buffer.from(rng.pick(['"model":"llama",', '{', ']', '\\u0000', '"', '1e999'])), b.subarray(at)]);
    }
  }
  return b;
}

export function randomPath(rng: Rng): string {
  return rng.chance(0.8) ? rng.pick(PATHS.slice(0, 3)) : rng.pick(PATHS);
}

/** Request headers as ext_proc carries them, with pseudo-headers, odd names and binary values. */
export function randomHeaders(rng: Rng, path: string, bodyLength: number): HeaderValue[] {
  const headers: HeaderValue[] = [
    { key: ':method', value: rng.chance(0.9) ? 'POST' : rng.pick(['GET', 'PUT', '', 'POST\r\nX: y']) },
    { key: ':path', value: path },
    { key: ':authority', value: 'gateway' },
    { key: ':scheme', value: 'http' },
  ];
  if (rng.chance(0.9)) headers.push({ key: 'content-type', value: rng.pick(['application/json', 'text/plain', '']) });
  if (rng.chance(0.5)) headers.push({ key: 'content-length', value: rng.chance(0.8) ? String(bodyLength) : rng.pick(['-1', 'abc', '99999999999']) });
  if (rng.chance(0.2)) headers.push({ key: 'x-gateway-destination-endpoint', value: '10.9.9.9:80' });
  if (rng.chance(0.1)) headers.push({ key: 'x-request-id', value: rng.string(40) });
  if (rng.chance(0.1)) headers.push({ key: rng.string(12).toLowerCase(), raw_value: rng.bytes(rng.int(64)) });
  if (rng.chance(0.1)) headers.push({ key: 'authorization', value: `Bearer ${rng.string(30)}` });
  if (rng.chance(0.05)) {
    for (let i = rng.int(300); i > 0; i--) headers.push({ key: `x-many-${i}`, value: rng.string(8) });
  }
  return headers;
}

/**
 * One ext_proc stream's messages as Envoy might send them in a mode, then mutated: phases dropped, repeated or
 * reordered, fields emptied or replaced with random values, and random end-of-stream flags.
 */
export function extProcScript(rng: Rng): ProcessingRequest[] {
  const body = randomBody(rng);
  const path = randomPath(rng);
  const msgs: ProcessingRequest[] = [];
  const bodyless = rng.chance(0.1);
  msgs.push({ request_headers: { headers: { headers: randomHeaders(rng, path, body.length) }, end_of_stream: bodyless } } as ProcessingRequest);
  if (!bodyless) {
    const pieces = 1 + rng.int(4);
    const size = Math.ceil(body.length / pieces) || 1;
    for (let i = 0; i < pieces; i++) {
      msgs.push({ request_body: { body: body.subarray(i * size, (i + 1) * size), end_of_stream: i === pieces - 1 } } as ProcessingRequest);
    }
  }
  if (rng.chance(0.2)) msgs.push({ request_trailers: { trailers: { headers: [{ key: 'x-t', value: '1' }] } } } as ProcessingRequest);
  if (rng.chance(0.7)) {
    msgs.push({
      response_headers: {
        headers: { headers: [{ key: ':status', value: rng.pick(['200', '500', '429', 'abc', '']) }, { key: 'content-type', value: rng.pick(['application/json', 'text/event-stream']) }] },
        end_of_stream: false,
      },
    } as ProcessingRequest);
    const usage = rng.chance(0.5)
      ? `data: {"usage":{"prompt_tokens":${rng.int(50)},"completion_tokens":${rng.int(50)}}}\n\ndata: [DONE]\n\n`
      : JSON.stringify({ model: 'x', usage: { prompt_tokens: rng.int(50), completion_tokens: rng.pick([rng.int(50), -3, 'x', 1e12]) } });
    const resp = rng.chance(0.8) ? Buffer.from(usage) : rng.bytes(rng.int(100));
    msgs.push({ response_body: { body: resp, end_of_stream: rng.chance(0.9) } } as ProcessingRequest);
  }
  for (let n = rng.chance(0.6) ? 1 + rng.int(3) : 0; n > 0 && msgs.length > 0; n--) {
    const at = rng.int(msgs.length);
    switch (rng.int(6)) {
      case 0:
        msgs.splice(at, 1);
        break;
      case 1:
        msgs.splice(at, 0, msgs[at]!);
        break;
      case 2: {
        const other = rng.int(msgs.length);
        [msgs[at], msgs[other]] = [msgs[other]!, msgs[at]!];
        break;
      }
      case 3:
        msgs[at] = {} as ProcessingRequest;
        break;
      case 4:
        msgs[at] = { [rng.pick(['request_headers', 'request_body', 'response_headers', 'response_body', 'request_trailers', 'response_trailers'])]: randomJsonish(rng) } as ProcessingRequest;
        break;
      default: {
        const m = msgs[at] as Record<string, { end_of_stream?: boolean }>;
        const phase = Object.values(m)[0];
        if (phase && typeof phase === 'object') phase.end_of_stream = !phase.end_of_stream;
      }
    }
  }
  if (rng.chance(0.05)) msgs.push({ request_body: { body: rng.bytes(1 + rng.int(4096)), end_of_stream: false } } as ProcessingRequest);
  return msgs;
}

/** A phase payload of plausible field names with random (but encodable) values. */
function randomJsonish(rng: Rng): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (rng.chance(0.5)) out.end_of_stream = rng.chance(0.5);
  if (rng.chance(0.5)) out.body = rng.bytes(rng.int(64));
  if (rng.chance(0.5)) out.headers = { headers: [{ key: rng.string(8), value: rng.string(8) }] };
  if (rng.chance(0.3)) out.trailers = { headers: [] };
  return out;
}

/** A whole HTTP/1.1 request as bytes: well-formed, odd, or broken. */
export function httpRequestBytes(rng: Rng, host: string): Buffer {
  const body = rng.chance(0.85) ? randomBody(rng) : Buffer.alloc(0);
  const method = rng.chance(0.85) ? 'POST' : rng.pick(['GET', 'DELETE', 'OPTIONS', 'PATCH', 'FOO', 'CONNECT']);
  const path = rng.chance(0.9) ? randomPath(rng) : rng.pick(['http://evil/x', '//x', '/v1/chat/completions#a', '/' + 'a'.repeat(5000)]);
  const lines = [`${method} ${path} HTTP/1.1`, `Host: ${host}`];
  if (rng.chance(0.9)) lines.push('Content-Type: application/json');
  const lengthStyle = rng.int(10);
  if (lengthStyle < 7) lines.push(`Content-Length: ${body.length}`);
  else if (lengthStyle < 9) lines.push('Transfer-Encoding: chunked');
  else lines.push(`Content-Length: ${rng.pick([body.length + 5, Math.max(0, body.length - 3), -1])}`);
  if (rng.chance(0.1)) lines.push(`Host: other`);
  if (rng.chance(0.1)) lines.push(`X-Forwarded-Host: ${rng.string(10)}`);
  if (rng.chance(0.1)) lines.push(`Authorization: Bearer ${rng.string(20)}`);
  if (rng.chance(0.05)) lines.push(`${rng.string(8)}: ${rng.string(8)}`);
  lines.push('Connection: close');
  let payload: Buffer = body;
  if (lengthStyle >= 7 && lengthStyle < 9) {
    payload = rng.chance(0.8)
      ? Buffer.concat([Buffer.from(`${body.length.toString(16)}\r\n`), body, Buffer.from('\r\n0\r\n\r\n')])
      : Buffer.concat([Buffer.from(rng.pick(['zz\r\n', '5\r\nab\r\n', 'ffffffffffff\r\n'])), body]);
  }
  const head = Buffer.from(lines.join('\r\n') + '\r\n\r\n');
  const all = Buffer.concat([head, payload]);
  return rng.chance(0.15) ? mutate(rng, all) : all;
}
