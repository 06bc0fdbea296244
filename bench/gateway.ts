import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Pool } from 'undici';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../test/support/fleet-yaml.js';
import { connectionManager, httpFilters, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyBootstrap, type EnvoyProcess } from '../test/support/envoy-process.js';
import { freePort, startRouterProcess } from '../test/support/router-process.js';
import { summarize } from './loadgen/stats.js';
import { processTicks, TICKS_PER_SECOND } from './scheduling/cpu.js';
import { track } from './scheduling/children.js';

// The picker's cost behind a real Envoy (envoy/envoy.yaml, the shipped bootstrap) with instant model servers, in
// interleaved rounds so every configuration sees the same machine:
//   envoy      Envoy alone, the destination header set by Envoy itself (no picker)
//   ours       Envoy + kthena-router (default config, 10-pod ModelServer)
//   go-min     Envoy + tools/extproc-min, a Go ext_proc server that always answers one endpoint (the floor)
// Per body size: throughput at 32 concurrent, added latency p50/p99 at a fixed rate (against 'envoy'), the picker's
// CPU ms per request from /proc; then each picker's idle cores and RSS.
//
//   npm run bench:gateway -- [--duration-ms 3000] [--rounds 3] [--rate 50] [--concurrency 32] [--bodies 78,1024,32768] [--json]

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const PODS = Array.from({ length: 10 }, (_, i) => `127.0.77.${i + 1}`);
const MODEL = 'bench';

type ConfigName = 'envoy' | 'ours' | 'go-min';

interface Cell {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Picker CPU per request in the closed-loop cell; NaN without a picker. */
  pickerCpuMs: number;
  failures: number;
}

interface Setup {
  name: ConfigName;
  envoy: EnvoyProcess;
  pickerPid?: number;
}

function options() {
  const { values } = parseArgs({
    options: {
      'duration-ms': { type: 'string', default: '3000' },
      rounds: { type: 'string', default: '3' },
      rate: { type: 'string', default: '50' },
      concurrency: { type: 'string', default: '32' },
      bodies: { type: 'string', default: '78,1024,32768' },
      json: { type: 'boolean', default: false },
    },
  });
  return {
    durationMs: Number(values['duration-ms']),
    rounds: Number(values.rounds),
    rate: Number(values.rate),
    concurrency: Number(values.concurrency),
    bodies: values.bodies!.split(',').map(Number),
    json: values.json!,
  };
}

/** A chat request of about `bytes` bytes (78 B is a one-word prompt). */
export function chatBody(bytes: number): string {
  const base = { model: MODEL, messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 };
  const fixed = JSON.stringify(base).length;
  const words = ['the', 'router', 'picks', 'a', 'pod', 'for', 'every', 'request', 'behind', 'envoy'];
  let content = 'hi';
  for (let i = 0; fixed - 2 + content.length < bytes - 5; i++) content += ` ${words[i % words.length]}`;
  base.messages[0]!.content = content.slice(0, Math.max(2, bytes - fixed + 2));
  return JSON.stringify(base);
}

/** envoy/envoy.yaml as shipped, less its access log and the picker health check, which every setup would pay. */
function bootstrap(): EnvoyBootstrap {
  const cfg = loadBootstrap('envoy/envoy.yaml');
  delete connectionManager(cfg).access_log;
  return cfg;
}

function withPicker(address: { host: string; port: number }): EnvoyBootstrap {
  const cfg = bootstrap();
  setClusterEndpoints(cfg, 'kthena_router', [address]);
  const router = cfg.static_resources.clusters.find((c: EnvoyBootstrap) => c.name === 'kthena_router');
  delete router.health_checks;
  return cfg;
}

/** No picker: Envoy sets the destination header itself, everything else as shipped. */
function withoutPicker(pod: string): EnvoyBootstrap {
  const cfg = bootstrap();
  const hcm = connectionManager(cfg);
  hcm.http_filters = httpFilters(cfg).filter((f: EnvoyBootstrap) => f.name !== 'envoy.filters.http.ext_proc' && f.name !== 'kthena.primary_endpoint');
  const strip = hcm.http_filters.find((f: EnvoyBootstrap) => f.name === 'kthena.strip_destination');
  strip.typed_config.mutations.request_mutations = [
    { append: { header: { key: 'x-gateway-destination-endpoint', value: pod }, append_action: 'OVERWRITE_IF_EXISTS_OR_ADD' } },
  ];
  return cfg;
}

/** Builds tools/extproc-min into the cache (Go required); undefined when Go is missing. */
function buildGoPicker(): string | undefined {
  const bin = join(process.env.KTHENA_CACHE ?? join(homedir(), '.cache', 'kthena-router'), 'extproc-min');
  try {
    execFileSync('go', ['build', '-o', bin, '.'], { cwd: join(ROOT, 'tools/extproc-min'), stdio: 'inherit' });
    return bin;
  } catch (err) {
    process.stderr.write(`bench:gateway: skipping go-min (${String(err)})\n`);
    return undefined;
  }
}

async function startGoPicker(bin: string, pod: string): Promise<{ child: ChildProcess; port: number }> {
  const port = await freePort();
  const child = track(spawn(bin, ['--listen', `127.0.0.1:${port}`, '--endpoint', pod], { stdio: ['ignore', 'ignore', 'pipe'] }));
  await new Promise<void>((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (d) => {
      err += d;
      if (err.includes('listening')) resolve();
    });
    child.once('exit', () => reject(new Error(`extproc-min exited: ${err}`)));
  });
  return { child, port };
}

async function startUpstreams(port: number): Promise<ChildProcess> {
  const child = track(spawn(process.execPath, ['--import', 'tsx', 'bench/gateway/upstream.ts', String(port), ...PODS], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }));
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d) => String(d).includes('ready') && resolve());
    child.once('exit', () => reject(new Error('upstreams exited')));
  });
  return child;
}

async function ticks(pid: number | undefined): Promise<number> {
  return pid === undefined ? 0 : ((await processTicks(pid)) ?? 0);
}

/** Closed loop: `concurrency` clients send back to back for `durationMs`. */
async function closedLoop(setup: Setup, body: string, concurrency: number, durationMs: number): Promise<Cell> {
  const pool = new Pool(setup.envoy.url, { connections: concurrency });
  const latencies: number[] = [];
  let failures = 0;
  const before = await ticks(setup.pickerPid);
  const end = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        const ok = await send(pool, body);
        if (ok) latencies.push(performance.now() - t0);
        else failures++;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = ((await ticks(setup.pickerPid)) - before) / TICKS_PER_SECOND;
  await pool.close();
  const s = summarize(latencies);
  const done = latencies.length + failures;
  return { rps: latencies.length / seconds, p50Ms: s.p50, p99Ms: s.p99, pickerCpuMs: setup.pickerPid ? (used * 1000) / done : NaN, failures };
}

/** Open loop at a fixed rate: latency without queueing in the client. */
async function fixedRate(setup: Setup, body: string, rate: number, durationMs: number): Promise<Cell> {
  const pool = new Pool(setup.envoy.url, { connections: 64 });
  const latencies: number[] = [];
  let failures = 0;
  const before = await ticks(setup.pickerPid);
  const total = Math.max(1, Math.round((rate * durationMs) / 1000));
  const t0 = performance.now();
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(
      (async () => {
        const s = performance.now();
        if (await send(pool, body)) latencies.push(performance.now() - s);
        else failures++;
      })(),
    );
  }
  await Promise.all(inflight);
  const used = ((await ticks(setup.pickerPid)) - before) / TICKS_PER_SECOND;
  await pool.close();
  const s = summarize(latencies);
  return { rps: rate, p50Ms: s.p50, p99Ms: s.p99, pickerCpuMs: setup.pickerPid ? (used * 1000) / total : NaN, failures };
}

async function send(pool: Pool, body: string): Promise<boolean> {
  try {
    const res = await pool.request({ method: 'POST', path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body });
    await res.body.text();
    return res.statusCode === 200;
  } catch {
    return false;
  }
}

async function rssMb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024;
}

function median(xs: number[]): number {
  return summarize(xs.filter((x) => !Number.isNaN(x))).p50;
}

async function main(): Promise<void> {
  const o = options();
  const goBin = buildGoPicker();
  const podPort = await freePort();
  const upstreams = await startUpstreams(podPort);
  const pod = `${PODS[0]}:${podPort}`;
  const dir = await mkdtemp(join(tmpdir(), 'kthena-bench-gateway-'));
  await writeFile(
    join(dir, 'fleet.yaml'),
    documents(modelServerYaml(MODEL, { port: podPort, model: MODEL }), modelRouteYaml(MODEL, MODEL), ...PODS.map((ip, i) => podYaml(`bench-${i}`, ip, MODEL))),
  );
  const router = await startRouterProcess(['--resources', dir]);
  const go = goBin ? await startGoPicker(goBin, pod) : undefined;
  const setups: Setup[] = [
    { name: 'envoy', envoy: await startEnvoy(withoutPicker(pod)) },
    { name: 'ours', envoy: await startEnvoy(withPicker({ host: '127.0.0.1', port: router.ports.grpc })), pickerPid: router.child.pid },
  ];
  if (go) setups.push({ name: 'go-min', envoy: await startEnvoy(withPicker({ host: '127.0.0.1', port: go.port })), pickerPid: go.child.pid });

  try {
    // Warm-up: connections, JIT, the router's tokenizer tables.
    for (const s of setups) for (const b of o.bodies) await closedLoop(s, chatBody(b), o.concurrency, 1000);

    const idle = new Map<ConfigName, { cores: number; rssMb: number }>();
    const idleMs = 10_000;
    const pickers = setups.filter((s) => s.pickerPid);
    const t0 = await Promise.all(pickers.map((s) => ticks(s.pickerPid)));
    await new Promise((r) => setTimeout(r, idleMs));
    const t1 = await Promise.all(pickers.map((s) => ticks(s.pickerPid)));
    for (const [i, s] of pickers.entries()) {
      idle.set(s.name, { cores: (t1[i]! - t0[i]!) / TICKS_PER_SECOND / (idleMs / 1000), rssMb: await rssMb(s.pickerPid!) });
    }

    const results = new Map<string, { closed: Cell[]; rate: Cell[] }>();
    for (let round = 0; round < o.rounds; round++) {
      for (const b of o.bodies) {
        for (const s of setups) {
          const key = `${b}|${s.name}`;
          const r = results.get(key) ?? { closed: [], rate: [] };
          r.closed.push(await closedLoop(s, chatBody(b), o.concurrency, o.durationMs));
          r.rate.push(await fixedRate(s, chatBody(b), o.rate, o.durationMs));
          results.set(key, r);
        }
      }
      process.stderr.write(`round ${round + 1}/${o.rounds} done\n`);
    }

    const rows = o.bodies.flatMap((b) =>
      setups.map((s) => {
        const r = results.get(`${b}|${s.name}`)!;
        const base = results.get(`${b}|envoy`)!;
        return {
          bodyBytes: b,
          config: s.name,
          rps: median(r.closed.map((c) => c.rps)),
          addedP50Ms: median(r.rate.map((c) => c.p50Ms)) - median(base.rate.map((c) => c.p50Ms)),
          addedP99Ms: median(r.rate.map((c) => c.p99Ms)) - median(base.rate.map((c) => c.p99Ms)),
          pickerCpuMsClosed: median(r.closed.map((c) => c.pickerCpuMs)),
          pickerCpuMsAtRate: median(r.rate.map((c) => c.pickerCpuMs)),
          failures: [...r.closed, ...r.rate].reduce((n, c) => n + c.failures, 0),
        };
      }),
    );
    if (o.json) {
      process.stdout.write(JSON.stringify({ options: o, rows, idle: Object.fromEntries(idle) }, null, 2) + '\n');
      return;
    }
    const f = (x: number, d = 2) => (Number.isNaN(x) ? '—' : x.toFixed(d));
    const lines = [
      `bench:gateway: Envoy ${'1.40'} + picker, ${o.rounds} interleaved rounds of ${o.durationMs} ms per cell, medians`,
      '',
      `| body | config | req/s at ${o.concurrency} concurrent | added p50 / p99 ms at ${o.rate} req/s | picker CPU ms/req (closed loop / at rate) | ours ÷ go-min CPU | failures |`,
      '|---|---|---|---|---|---|---|',
    ];
    for (const r of rows) {
      const goRow = rows.find((x) => x.bodyBytes === r.bodyBytes && x.config === 'go-min');
      const ratio = r.config === 'ours' && goRow ? f(r.pickerCpuMsClosed / goRow.pickerCpuMsClosed) + '×' : '';
      lines.push(
        `| ${r.bodyBytes} B | ${r.config} | ${f(r.rps, 0)} | ${r.config === 'envoy' ? 'baseline' : `${f(r.addedP50Ms)} / ${f(r.addedP99Ms)}`} | ${f(r.pickerCpuMsClosed, 3)} / ${f(r.pickerCpuMsAtRate, 3)} | ${ratio} | ${r.failures} |`,
      );
    }
    lines.push('', '| picker | idle cores | RSS MB |', '|---|---|---|');
    for (const [name, v] of idle) lines.push(`| ${name} | ${f(v.cores, 3)} | ${f(v.rssMb, 0)} |`);
    process.stdout.write(lines.join('\n') + '\n');
  } finally {
    for (const s of setups) await s.envoy.stop();
    go?.child.kill();
    await router.stop();
    upstreams.kill();
    await rm(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    process.stderr.write(`bench:gateway failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  });
}
