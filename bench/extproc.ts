import { pathToFileURL } from 'node:url';
import { pino } from 'pino';
import type { Decision, Exchange, Pipeline } from '../src/core/types.js';
import { ExtProcServer } from '../src/frontends/extproc/index.js';
import { EnvoyClient, type ModeName } from '../test/support/envoy-client.js';
import { createBenchPipeline } from './support/router-pipeline.js';
import { measureDecision } from './support/decision-latency.js';

// ext_proc front-door benchmark: full exchanges (request headers + body, SSE response) driven by the
// Envoy-behaving client against (a) a no-op pipeline on the same server stack, the baseline, and (b) the
// router pipeline from bench/support/router-pipeline.ts, with 10 and 1,000 pods.
//
//   npm run bench:extproc -- [--duration-ms=3000] [--rounds=3] [--concurrency=16] [--mode=FULL_DUPLEX_STREAMED]
// (or BENCH_DURATION_MS, BENCH_ROUNDS, BENCH_CONCURRENCY). About 25 s with the defaults.

export interface BenchOptions {
  /** Measured time per cell, split into `rounds` slices interleaved with the other cells. */
  durationMs: number;
  rounds: number;
  concurrency: number;
  mode: ModeName;
  bodySizes: number[];
  podCounts: number[];
}

export interface CellResult {
  exchangesPerSec: number;
  p50Ms: number;
  p99Ms: number;
  /** Process CPU (client and server) per exchange: steadier than throughput on a shared machine. */
  cpuMsPerExchange: number;
  failures: number;
}

export interface BenchRow {
  bodyBytes: number;
  pods: number;
  noop: CellResult;
  router: CellResult;
}

const SSE_EVENTS = [
  ...Array.from({ length: 8 }, (_, i) => ({ id: 'c', model: 'm', choices: [{ index: 0, delta: { content: `tok${i} ` } }] })),
  { id: 'c', model: 'm', choices: [], usage: { prompt_tokens: 100, completion_tokens: 8, total_tokens: 108 } },
];

/** The baseline: a fixed endpoint, no parsing, no bookkeeping. */
function noopPipeline(): Pipeline {
  const exchange: Exchange = { requestId: '', served() {}, responseHeaders() {}, responseBody: (c) => c, finish() {} };
  const decision: Decision = {
    kind: 'route',
    endpoints: ['10.0.0.1:8000'],
    setHeaders: {},
    removeHeaders: [],
    upstream: { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 0 },
    exchange,
  };
  return { handle: async () => decision };
}

function chatBody(bytes: number): Buffer {
  const shell = { model: 'bench-model', stream: true, messages: [{ role: 'user', content: '' }] };
  const overhead = Buffer.byteLength(JSON.stringify(shell));
  shell.messages[0]!.content = 'x'.repeat(Math.max(0, bytes - overhead));
  return Buffer.from(JSON.stringify(shell));
}

/** One pipeline behind its own server and client, measured in slices. */
class Cell {
  private readonly latencies: number[] = [];
  private completed = 0;
  private failures = 0;
  private elapsedMs = 0;
  private cpuMicros = 0;

  private constructor(
    private readonly server: ExtProcServer,
    private readonly client: EnvoyClient,
    private readonly body: Buffer,
    private readonly options: BenchOptions,
  ) {}

  static async start(pipeline: Pipeline, body: Buffer, options: BenchOptions): Promise<Cell> {
    const server = new ExtProcServer();
    const { port } = await server.start({
      host: '127.0.0.1',
      port: 0,
      pipeline,
      maxBodyBytes: 4 * 1024 * 1024,
      logger: pino({ level: 'silent' }),
    });
    return new Cell(server, new EnvoyClient(`127.0.0.1:${port}`), body, options);
  }

  /** Runs the workers for `ms`; only a measured slice counts. */
  async slice(ms: number, measured: boolean): Promise<void> {
    const until = performance.now() + ms;
    const cpuBefore = process.cpuUsage();
    const started = performance.now();
    const worker = async () => {
      while (performance.now() < until) {
        const t = await this.client.exchange({
          mode: this.options.mode,
          body: this.body,
          response: { sseEvents: SSE_EVENTS },
          messageTimeoutMs: 1_000, // throughput, not Envoy's timer under CPU starvation, is measured here
        });
        if (!measured) continue;
        if (t.outcome !== 'completed') this.failures++;
        else {
          this.completed++;
          this.latencies.push(t.decisionMs ?? 0);
        }
      }
    };
    await Promise.all(Array.from({ length: this.options.concurrency }, worker));
    if (!measured) return;
    this.elapsedMs += performance.now() - started;
    const cpu = process.cpuUsage(cpuBefore);
    this.cpuMicros += cpu.user + cpu.system;
  }

  result(): CellResult {
    this.latencies.sort((a, b) => a - b);
    return {
      exchangesPerSec: this.completed / (this.elapsedMs / 1000),
      p50Ms: percentile(this.latencies, 0.5),
      p99Ms: percentile(this.latencies, 0.99),
      cpuMsPerExchange: this.cpuMicros / 1000 / Math.max(1, this.completed),
      failures: this.failures,
    };
  }

  async stop(): Promise<void> {
    this.client.close();
    await this.server.stop(1_000);
  }
}

function percentile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

export async function runBench(options: BenchOptions): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const bodyBytes of options.bodySizes) {
    const body = chatBody(bodyBytes);
    const noop = await Cell.start(noopPipeline(), body, options);
    const routers = await Promise.all(options.podCounts.map((pods) => Cell.start(createBenchPipeline(pods), body, options)));
    const cells = [noop, ...routers];
    try {
      for (const cell of cells) await cell.slice(Math.min(500, options.durationMs / 4), false);
      // Interleaved slices share the machine's load drift between baseline and router alike.
      for (let round = 0; round < options.rounds; round++) {
        for (const cell of cells) await cell.slice(options.durationMs / options.rounds, true);
      }
      const baseline = noop.result();
      options.podCounts.forEach((pods, i) => rows.push({ bodyBytes, pods, noop: baseline, router: routers[i]!.result() }));
    } finally {
      await Promise.all(cells.map((cell) => cell.stop()));
    }
  }
  return rows;
}

function formatTable(rows: BenchRow[], options: BenchOptions): string {
  const kb = (n: number) => `${Math.round(n / 1024)} KB`;
  const lat = (c: CellResult) => `${c.p50Ms.toFixed(2)} / ${c.p99Ms.toFixed(2)}`;
  const lines = [
    `ext_proc exchanges, ${options.mode}, SSE response, concurrency ${options.concurrency}, ` +
      `${options.durationMs} ms per cell in ${options.rounds} interleaved slices`,
    '',
    '| body | pods | no-op ex/s | router ex/s | router/no-op | no-op decision p50 / p99 ms | router decision p50 / p99 ms | CPU ms/exchange no-op / router | failures |',
    '|---|---|---|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| ${kb(r.bodyBytes)} | ${r.pods} | ${r.noop.exchangesPerSec.toFixed(0)} | ${r.router.exchangesPerSec.toFixed(0)} | ` +
        `${(r.router.exchangesPerSec / r.noop.exchangesPerSec).toFixed(2)} | ${lat(r.noop)} | ${lat(r.router)} | ` +
        `${r.noop.cpuMsPerExchange.toFixed(2)} / ${r.router.cpuMsPerExchange.toFixed(2)} | ${r.noop.failures + r.router.failures} |`,
    ),
  ];
  return lines.join('\n');
}

function parseArgs(argv: string[]): BenchOptions {
  const arg = (name: string) => argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const number = (name: string, fallback: number) => {
    const raw = arg(name) ?? process.env[`BENCH_${name.toUpperCase().replace(/-/g, '_')}`];
    const value = raw === undefined ? fallback : Number(raw);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`);
    return value;
  };
  const mode = (arg('mode') ?? 'FULL_DUPLEX_STREAMED') as ModeName;
  if (!['BUFFERED', 'STREAMED', 'FULL_DUPLEX_STREAMED'].includes(mode)) throw new Error(`unsupported --mode ${mode}`);
  return {
    durationMs: number('duration-ms', 3_000),
    rounds: number('rounds', 3),
    concurrency: number('concurrency', 16),
    mode,
    bodySizes: [1024, 100 * 1024],
    podCounts: [10, 1000],
  };
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const options = parseArgs(process.argv.slice(2));
  const rows = await runBench(options);
  console.log(formatTable(rows, options));
  console.log('\nPipeline decision alone (in process, 1 KB chat body, target: p99 < 1 ms at 1,000 pods)\n');
  console.log('| pods | p50 ms | p99 ms | max ms |\n|---|---|---|---|');
  for (const pods of options.podCounts) {
    const d = await measureDecision(pods);
    console.log(`| ${pods} | ${d.p50Ms.toFixed(3)} | ${d.p99Ms.toFixed(3)} | ${d.maxMs.toFixed(3)} |`);
  }
}
