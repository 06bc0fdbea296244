import { fork, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { Pool } from 'undici';
import { RoutingPipeline } from '../src/core/pipeline.js';
import { Datastore } from '../src/datastore/datastore.js';
import { startProxyServer } from '../src/frontends/proxy/index.js';
import { parseResource } from '../src/resources/parse.js';
import type { Resource } from '../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../src/scheduler/config.js';
import { Scheduler } from '../src/scheduler/scheduler.js';
import { summarize } from './loadgen/stats.js';

// Proxy overhead: the same upstream hit directly and through the proxy (real pipeline: route match, model rewrite,
// scheduling, usage reading), in the same run, in interleaved blocks so both see the same machine conditions. The
// upstream and the proxy each run in their own process, as they would in production; this process is the client.
//
//   npm run bench:proxy -- [--requests 2000] [--json]

const HOST = '127.0.0.1';
const ROUTED_MODEL = 'bench';
const UPSTREAM_MODEL = 'bench-upstream-model';
const BLOCK = 100;

interface Scenario {
  name: string;
  stream: boolean;
  concurrency: number;
}

const SCENARIOS: Scenario[] = [
  { name: 'JSON, sequential', stream: false, concurrency: 1 },
  { name: 'JSON, 4 concurrent', stream: false, concurrency: 4 },
  { name: 'SSE (8 events), sequential', stream: true, concurrency: 1 },
];

export interface ProxyBenchRow {
  scenario: string;
  concurrency: number;
  direct: { p50: number; p99: number; mean: number };
  proxy: { p50: number; p99: number; mean: number };
  addedP50Ms: number;
  addedP99Ms: number;
  /** CPU time the proxy process spent per proxied request (user + system): steadier than latency on a busy host. */
  proxyCpuMsPerRequest: number;
  /** The same for the bare node:http upstream on the direct path: the yardstick for the proxy's CPU figure. */
  upstreamCpuMsPerRequest: number;
  failures: number;
}

// ---- child roles -------------------------------------------------------------------------------------------------

/** A fast fake engine: a fixed JSON completion, or 8 SSE deltas and a usage event, written at once. */
async function serveUpstream(): Promise<number> {
  const json = (model: string) =>
    JSON.stringify({
      id: 'cmpl-1',
      object: 'chat.completion',
      model,
      choices: [{ index: 0, message: { role: 'assistant', content: 'hello there' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
    });
  const sse = (model: string) =>
    [
      ...Array.from({ length: 8 }, (_, i) => ({ id: 'c', model, choices: [{ index: 0, delta: { content: `tok${i} ` } }] })),
      { id: 'c', model, choices: [], usage: { prompt_tokens: 12, completion_tokens: 8, total_tokens: 20 } },
    ]
      .map((e) => `data: ${JSON.stringify(e)}\n\n`)
      .join('') + 'data: [DONE]\n\n';
  const server = createServer((req, res) => {
    let raw = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (raw += c));
    req.on('end', () => {
      const body = JSON.parse(raw) as { model: string; stream?: boolean };
      if (body.stream) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end(sse(body.model));
      } else {
        const text = json(body.model);
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      }
    });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return (server.address() as AddressInfo).port;
}

async function serveProxy(upstreamPort: number): Promise<number> {
  const r = (o: unknown) => parseResource(o) as Resource;
  const datastore = new Datastore();
  datastore.sinkFor('bench').replace(['Pod', 'ModelServer', 'ModelRoute'], [
    r({
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'bench', namespace: 'default' },
      spec: { model: UPSTREAM_MODEL, inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'bench' } }, workloadPort: { port: upstreamPort } },
    }),
    r({
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'bench', namespace: 'default' },
      spec: { modelName: ROUTED_MODEL, rules: [{ targetModels: [{ modelServerName: 'bench' }] }] },
    }),
    r({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'bench-0', namespace: 'default', labels: { app: 'bench' } },
      status: { podIP: HOST, phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
    }),
  ]);
  const pipeline = new RoutingPipeline({ datastore, scheduler: new Scheduler(DEFAULT_SCHEDULER), maxBodyBytes: 1 << 20 });
  const proxy = await startProxyServer({ host: HOST, port: 0, pipeline, maxBodyBytes: 1 << 20, logger: pino({ level: 'silent' }) });
  return proxy.port;
}

// ---- client ------------------------------------------------------------------------------------------------------

/** Microseconds of CPU (user + system) the child has used so far. */
function cpuOf(child: ChildProcess): Promise<number> {
  return new Promise((resolve) => {
    child.once('message', (m) => {
      const { user, system } = (m as { cpu: NodeJS.CpuUsage }).cpu;
      resolve(user + system);
    });
    child.send('cpu');
  });
}

function spawnRole(role: string, ...args: string[]): Promise<{ child: ChildProcess; port: number }> {
  const child = fork(fileURLToPath(import.meta.url), ['--role', role, ...args], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (m) => resolve({ child, port: (m as { port: number }).port }));
    child.once('exit', (code) => reject(new Error(`${role} process exited with ${code}`)));
  });
}

async function timedRequest(pool: Pool, body: string): Promise<number> {
  const start = performance.now();
  const res = await pool.request({ path: '/v1/chat/completions', method: 'POST', headers: { 'content-type': 'application/json' }, body });
  await res.body.text();
  if (res.statusCode !== 200) throw new Error(`status ${res.statusCode}`);
  return performance.now() - start;
}

/** `n` requests by `concurrency` workers; latencies in ms. */
async function block(pool: Pool, body: string, n: number, concurrency: number, out: number[]): Promise<number> {
  let left = n;
  let failures = 0;
  const worker = async () => {
    while (left-- > 0) {
      try {
        out.push(await timedRequest(pool, body));
      } catch {
        failures++;
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return failures;
}

/** Gets V8 to optimise the proxy's hot paths (and both connections warm) before anything is measured. */
async function warmUp(upstreamPort: number, proxyPort: number, requests: number): Promise<void> {
  for (const stream of [false, true]) {
    const body = requestBody(stream);
    for (const port of [upstreamPort, proxyPort]) {
      const pool = new Pool(`http://${HOST}:${port}`, { connections: 4 });
      await block(pool, body, requests, 4, []);
      await pool.close();
    }
  }
}

function requestBody(stream: boolean): string {
  return JSON.stringify({
    model: ROUTED_MODEL,
    messages: [
      { role: 'system', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'Say hello in a few words.' },
    ],
    max_tokens: 8,
    stream,
    ...(stream ? { stream_options: { include_usage: true } } : {}),
  });
}

interface Child {
  child: ChildProcess;
  port: number;
}

async function runScenario(s: Scenario, upstream: Child, proxy: Child, requests: number): Promise<ProxyBenchRow> {
  const body = requestBody(s.stream);
  const direct = new Pool(`http://${HOST}:${upstream.port}`, { connections: s.concurrency, keepAliveTimeout: 30_000 });
  const proxied = new Pool(`http://${HOST}:${proxy.port}`, { connections: s.concurrency, keepAliveTimeout: 30_000 });
  const d: number[] = [];
  const p: number[] = [];
  let failures = 0;
  let proxyCpuUs = 0;
  let upstreamCpuUs = 0;
  try {
    // Open this scenario's connections before measuring.
    await block(direct, body, 50, s.concurrency, []);
    await block(proxied, body, 50, s.concurrency, []);
    for (let done = 0; done < requests; done += BLOCK) {
      const upstreamBefore = await cpuOf(upstream.child);
      failures += await block(direct, body, BLOCK, s.concurrency, d);
      upstreamCpuUs += (await cpuOf(upstream.child)) - upstreamBefore;
      const cpuBefore = await cpuOf(proxy.child);
      failures += await block(proxied, body, BLOCK, s.concurrency, p);
      proxyCpuUs += (await cpuOf(proxy.child)) - cpuBefore;
    }
  } finally {
    await direct.close();
    await proxied.close();
  }
  const ds = summarize(d);
  const ps = summarize(p);
  return {
    scenario: s.name,
    concurrency: s.concurrency,
    direct: { p50: ds.p50, p99: ds.p99, mean: ds.mean },
    proxy: { p50: ps.p50, p99: ps.p99, mean: ps.mean },
    addedP50Ms: ps.p50 - ds.p50,
    addedP99Ms: ps.p99 - ds.p99,
    proxyCpuMsPerRequest: proxyCpuUs / 1000 / p.length,
    upstreamCpuMsPerRequest: upstreamCpuUs / 1000 / d.length,
    failures,
  };
}

function table(rows: ProxyBenchRow[]): string {
  const f = (v: number) => v.toFixed(3);
  const head = ['scenario', 'direct p50', 'direct p99', 'proxy p50', 'proxy p99', 'added p50', 'added p99', 'proxy CPU/req', 'upstream CPU/req'];
  const lines = rows.map((r) => [
    r.scenario,
    f(r.direct.p50),
    f(r.direct.p99),
    f(r.proxy.p50),
    f(r.proxy.p99),
    f(r.addedP50Ms),
    f(r.addedP99Ms),
    f(r.proxyCpuMsPerRequest),
    f(r.upstreamCpuMsPerRequest),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const fmt = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ')} |`;
  return [fmt(head), `|${widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`, ...lines.map(fmt)].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { role: { type: 'string' }, upstream: { type: 'string' }, requests: { type: 'string' }, json: { type: 'boolean' } },
  });
  if (values.role === 'upstream' || values.role === 'proxy') {
    const port = values.role === 'upstream' ? await serveUpstream() : await serveProxy(Number(values.upstream));
    process.send!({ port });
    process.on('message', () => process.send!({ cpu: process.cpuUsage() }));
    process.on('disconnect', () => process.exit(0));
    return;
  }
  const requests = Number(values.requests ?? 2000);
  if (!Number.isInteger(requests) || requests < BLOCK) throw new Error(`--requests must be an integer >= ${BLOCK}`);
  const upstream = await spawnRole('upstream');
  const proxy = await spawnRole('proxy', '--upstream', String(upstream.port));
  try {
    await warmUp(upstream.port, proxy.port, 1500);
    const rows: ProxyBenchRow[] = [];
    for (const s of SCENARIOS) rows.push(await runScenario(s, upstream, proxy, requests));
    if (values.json) {
      process.stdout.write(`${JSON.stringify({ requestsPerPath: requests, rows }, null, 2)}\n`);
    } else {
      process.stdout.write(`Proxy overhead, ${requests} requests per path and scenario, latencies in ms (Node ${process.version})\n\n`);
      process.stdout.write(`${table(rows)}\n\n`);
      const worst = Math.max(...rows.filter((r) => r.concurrency === 1).map((r) => r.addedP50Ms));
      process.stdout.write(`added p50 at low load: ${worst.toFixed(3)} ms (target < 1 ms): ${worst < 1 ? 'PASS' : 'FAIL'}\n`);
    }
    if (rows.some((r) => r.failures > 0)) process.exitCode = 1;
  } finally {
    proxy.child.disconnect();
    upstream.child.disconnect();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:proxy: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});
