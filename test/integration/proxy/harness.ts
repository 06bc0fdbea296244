// Test harness for the proxy: small node:http upstreams with switchable behaviour on distinct 127.0.41.x addresses
// (all on one port, since a ModelServer's pods share its workloadPort), the real routing pipeline in front of them,
// and a raw node:http client that can send any header and read a response chunk by chunk.
import {
  createServer,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { parseRateLimitConfig, RateLimiter } from '../../../src/filters/ratelimit/index.js';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { pino } from 'pino';
import { startProxyServer, type ProxyServer, type ProxyServerOptions } from '../../../src/frontends/proxy/index.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

export interface Seen {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  /** Name/value pairs as received, repeated headers not joined. */
  rawHeaders: string[];
  body: Buffer;
  /** The proxy closed the connection before the upstream finished its response. */
  aborted: boolean;
}

export type Behaviour = (req: IncomingMessage, res: ServerResponse, seen: Seen) => void;

export class Upstream {
  readonly seen: Seen[] = [];
  behaviour: Behaviour = jsonReply();
  private readonly server = createServer((req, res) => this.onRequest(req, res));

  constructor(readonly ip: string) {}

  listen(port: number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, this.ip, () => resolve((this.server.address() as AddressInfo).port));
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const seen: Seen = { method: req.method!, path: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, body: Buffer.concat(parts), aborted: false };
      this.seen.push(seen);
      res.on('close', () => {
        if (!res.writableFinished) seen.aborted = true;
      });
      this.behaviour(req, res, seen);
    });
  }
}

/** Starts one upstream per address, all on the same (ephemeral) port. */
export async function startUpstreams(ips: string[]): Promise<{ port: number; upstreams: Upstream[] }> {
  for (let tries = 0; ; tries++) {
    const upstreams = ips.map((ip) => new Upstream(ip));
    try {
      const port = await upstreams[0]!.listen(0);
      for (const u of upstreams.slice(1)) await u.listen(port);
      return { port, upstreams };
    } catch (err) {
      await Promise.allSettled(upstreams.map((u) => u.close()));
      if (tries >= 5) throw err;
    }
  }
}

/** The model named in an upstream request body. */
export const modelOf = (seen: Seen): string => JSON.parse(seen.body.toString()).model;

/** Answers like a non-streaming completion, echoing the model it was sent (as engines do). */
export function jsonReply(completionTokens = 7): Behaviour {
  return (_req, res, seen) => {
    const body = JSON.stringify({
      id: 'cmpl-1',
      object: 'chat.completion',
      model: modelOf(seen),
      choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 5, completion_tokens: completionTokens, total_tokens: 5 + completionTokens },
    });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  };
}

export function sseEvent(model: string, content: string): string {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [{ index: 0, delta: { content } }] })}\n\n`;
}

export function sseUsage(model: string, completionTokens: number): string {
  return `data: ${JSON.stringify({ id: 'c1', object: 'chat.completion.chunk', model, choices: [], usage: { prompt_tokens: 5, completion_tokens: completionTokens } })}\n\n`;
}

export function statusReply(status: number): Behaviour {
  return (_req, res) => {
    const body = JSON.stringify({ error: { message: 'busy', type: 'server_error', code: status } });
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(body);
  };
}

/** Accepts the request and never answers. */
export const hang: Behaviour = () => undefined;

export interface Fleet {
  datastore: Datastore;
  pipeline: RoutingPipeline;
}

export function fleet(objects: unknown[], maxBodyBytes = 1 << 20): Fleet {
  const datastore = new Datastore();
  const resources = objects.map((o) => parseResource(o) as Resource);
  datastore.sinkFor('test').replace(['Pod', 'ModelServer', 'ModelRoute'], resources);
  const pipeline = new RoutingPipeline({
    datastore,
    scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(7)),
    maxBodyBytes,
    random: seeded(9),
    // As the router composes it: with no limits configured the limiter only counts tokens.
    rateLimit: new RateLimiter(parseRateLimitConfig(undefined)),
  });
  return { datastore, pipeline };
}

/**
 * Makes the scheduler rank `order` as given (first = primary): fresh metrics with increasing running counts, and no
 * picks since the last scrape.
 */
export function rankAs(ds: Datastore, order: string[]): void {
  order.forEach((address, i) => {
    const ep = ds.endpoint(address);
    if (!ep) throw new Error(`no endpoint ${address}`);
    ep.state = { metrics: { running: i * 10, waiting: 0, kvCacheUsage: 0, runningLoras: [], waitingLoras: [] }, updatedAt: Date.now(), stale: false };
    ep.picksSinceScrape = 0;
  });
}

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface SendOptions {
  method?: string;
  path?: string;
  headers?: OutgoingHttpHeaders;
  body?: string | Buffer;
}

/** One request over a fresh connection; resolves with the whole response. */
export function send(port: number, opts: SendOptions): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: opts.method ?? 'POST', path: opts.path ?? '/v1/chat/completions', headers: opts.headers, agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (c: Buffer) => parts.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(parts).toString() }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(opts.body);
  });
}

export const chatBody = (model: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model, messages: [{ role: 'user', content: 'hello' }], ...extra });

export const jsonHeaders = { 'content-type': 'application/json' };

/** Polls until `check` holds (the proxy settles some things just after the client sees the end). */
export async function eventually(check: () => boolean, what: string, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

export const IP = {
  main: '127.0.41.1',
  failoverGood: '127.0.41.2',
  flaky: '127.0.41.3',
  steady: '127.0.41.4',
  noRetryA: '127.0.41.5',
  noRetryB: '127.0.41.6',
  slow: '127.0.41.7',
  /** Nothing listens here: connections are refused. */
  dead: '127.0.41.9',
  dead2: '127.0.41.10',
  dead3: '127.0.41.11',
};

/** Routes (client model names) of the fixture fleet. */
function fleetObjects(port: number): unknown[] {
  const server = (name: string, labels: Record<string, string>, extra: Record<string, unknown> = {}) =>
    ms(name, { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: labels }, workloadPort: { port }, ...extra });
  const route = (model: string, target: string) => mr(`r-${model}`, { modelName: model, rules: [{ targetModels: [{ modelServerName: target }] }] });
  return [
    server('main', { app: 'main' }, { model: 'upstream-model' }),
    server('failover', { app: 'failover' }),
    server('retry', { app: 'retry' }, { trafficPolicy: { retry: { attempts: 1, retryInterval: '10ms' } } }),
    server('noretry', { app: 'noretry' }),
    server('slow', { app: 'slow' }, { trafficPolicy: { timeout: '300ms' } }),
    server('alldead', { app: 'alldead' }, { trafficPolicy: { retry: { attempts: 2, retryInterval: '5ms' } } }),
    route('chat', 'main'),
    route('failover', 'failover'),
    route('retry', 'retry'),
    route('noretry', 'noretry'),
    route('slow', 'slow'),
    route('alldead', 'alldead'),
    pod('main', IP.main, { app: 'main' }),
    pod('fo-good', IP.failoverGood, { app: 'failover' }),
    pod('fo-dead', IP.dead, { app: 'failover' }),
    pod('flaky', IP.flaky, { app: 'retry' }),
    pod('steady', IP.steady, { app: 'retry' }),
    pod('nr-a', IP.noRetryA, { app: 'noretry' }),
    pod('nr-b', IP.noRetryB, { app: 'noretry' }),
    pod('slow', IP.slow, { app: 'slow' }),
    pod('ad-1', IP.dead2, { app: 'alldead' }),
    pod('ad-2', IP.dead3, { app: 'alldead' }),
  ];
}

export interface ProxyFixture extends Fleet {
  proxy: ProxyServer;
  port: number;
  upstreamPort: number;
  upstream(ip: string): Upstream;
  address(ip: string): string;
  close(): Promise<void>;
}

export async function startFixture(maxBodyBytes = 64 * 1024, options: Partial<ProxyServerOptions> = {}): Promise<ProxyFixture> {
  const live = [IP.main, IP.failoverGood, IP.flaky, IP.steady, IP.noRetryA, IP.noRetryB, IP.slow];
  const { port: upstreamPort, upstreams } = await startUpstreams(live);
  const f = fleet(fleetObjects(upstreamPort), Math.max(1 << 20, maxBodyBytes));
  const proxy = await startProxyServer({ host: '127.0.0.1', port: 0, pipeline: f.pipeline, maxBodyBytes, logger: quiet, ...options });
  const byIp = new Map(upstreams.map((u) => [u.ip, u]));
  return {
    ...f,
    proxy,
    port: proxy.port,
    upstreamPort,
    upstream: (ip) => byIp.get(ip)!,
    address: (ip) => `${ip}:${upstreamPort}`,
    async close() {
      await proxy.close(100);
      await Promise.all(upstreams.map((u) => u.close()));
    },
  };
}

/** Resets every upstream to the JSON responder and forgets what they saw. */
export function resetUpstreams(f: ProxyFixture): void {
  for (const ip of Object.values(IP)) {
    const u = f.upstream(ip);
    if (!u) continue;
    u.behaviour = jsonReply();
    u.seen.length = 0;
  }
}

export const quiet = pino({ level: 'silent' });

export interface StreamReader {
  status: number;
  headers: IncomingHttpHeaders;
  /** Text received so far. */
  text(): string;
  /** Resolves once the received text contains `needle`. */
  waitFor(needle: string, timeoutMs?: number): Promise<void>;
  /** 'end' for a complete response, 'broken' when the connection ended before the response did. */
  done: Promise<'end' | 'broken'>;
  /** The client goes away. */
  destroy(): void;
}

/** Sends a request and hands back the response as it arrives. */
export function openStream(port: number, body: string): Promise<StreamReader> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders, agent: false },
      (res) => {
        let text = '';
        const waiters: Array<() => void> = [];
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
          for (const w of waiters.splice(0)) w();
        });
        const done = new Promise<'end' | 'broken'>((settle) => {
          res.on('end', () => settle('end'));
          res.on('error', () => settle('broken'));
          res.on('close', () => settle(res.complete ? 'end' : 'broken'));
        });
        resolve({
          status: res.statusCode!,
          headers: res.headers,
          text: () => text,
          async waitFor(needle, timeoutMs = 2000) {
            const deadline = Date.now() + timeoutMs;
            while (!text.includes(needle)) {
              if (Date.now() > deadline) throw new Error(`stream never contained ${needle}; got ${JSON.stringify(text)}`);
              await Promise.race([new Promise<void>((r) => waiters.push(r)), new Promise((r) => setTimeout(r, 50))]);
            }
          },
          done,
          destroy: () => req.destroy(),
        });
      },
    );
    // After the response arrived, a reset shows up on the response; rejecting a settled promise is a no-op.
    req.on('error', reject);
    req.end(body);
  });
}
