import { mkdir, writeFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCell, type CellResult } from './scheduling/cell.js';
import './scheduling/children.js';
import { buildEntries } from './scheduling/entries.js';
import type { FleetSpec } from './scheduling/fleet.js';
import { idealBound, type BoundResult } from './scheduling/ideal.js';
import { POLICIES, runs, type Policy } from './scheduling/policies.js';
import { readRawResults, writeRawResults } from './scheduling/raw-results.js';
import { benchmarksMarkdown, chartSvg, type RunInfo } from './scheduling/report.js';
import { fixed, workloadTable } from './scheduling/table.js';
import { checkTargets, type TargetCheck } from './scheduling/targets.js';
import { LORA_ADAPTERS, WORKLOADS, type BenchWorkload } from './scheduling/workloads.js';

// Scheduling benchmark: every routing policy (bench/configs/) on every workload (bench/scheduling/workloads.ts),
// through the real router process in front of a fleet of simulator processes. See docs/benchmarks.md.

const QUICK_WORKLOADS = ['long-system-prompt', 'short-prompt'];
const QUICK_SHARE = 0.3;
const DOCS = fileURLToPath(new URL('../docs/', import.meta.url));
const RAW = fileURLToPath(new URL('./.cache/scheduling-results.json', import.meta.url));

const USAGE = `Usage: npm run bench:scheduling -- [options]
  --quick               ~3 min: ${QUICK_WORKLOADS.join(' and ')} only, 30% of the requests
  --workloads a,b       run only these (${WORKLOADS.map((w) => w.name).join(', ')})
  --policies x,y        run only these (${POLICIES.map((p) => p.name).join(', ')})
  --instances N         simulated engines (default 8)
  --slow N              of which on a GPU at half speed (default 2)
  --seed N              request sequence and arrival times (default 7)
  --requests-scale F    multiply every workload's request count
  --rate-scale F        multiply every workload's arrival rate
  --write-docs          write docs/benchmarks.md and its chart even for a partial run
  --no-docs             never write them
  --report-only         run nothing: rewrite docs/benchmarks.md and its chart from a run's raw results,
                        recomputing the ideal bound (takes no other option but --results)
  --results FILE        raw results for --report-only (default bench/.cache/scheduling-results.json)
  -h, --help            this text
A complete default run writes docs/benchmarks.md and docs/benchmarks/scheduling.svg; every run writes its raw
results to bench/.cache/scheduling-results.json and prints one table per workload, each ending with the computed
ideal bound (what no policy can beat on this fleet; see docs/benchmarks.md).`;

interface Cli {
  /** Set for --report-only: the raw results file to report. */
  reportFrom?: string;
  workloads: BenchWorkload[];
  policies: typeof POLICIES;
  fleet: Omit<FleetSpec, 'timeScale'>;
  seed: number;
  quick: boolean;
  complete: boolean;
  docs: 'auto' | 'always' | 'never';
}

function parseCli(argv: string[]): Cli | undefined {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      quick: { type: 'boolean' },
      workloads: { type: 'string' },
      policies: { type: 'string' },
      instances: { type: 'string' },
      slow: { type: 'string' },
      seed: { type: 'string' },
      'requests-scale': { type: 'string' },
      'rate-scale': { type: 'string' },
      'write-docs': { type: 'boolean' },
      'no-docs': { type: 'boolean' },
      'report-only': { type: 'boolean' },
      results: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
  if (values.results !== undefined && !values['report-only']) throw new RangeError('--results goes with --report-only');
  if (values['report-only']) {
    const other = Object.keys(values).filter((k) => k !== 'report-only' && k !== 'results');
    if (other.length > 0) throw new RangeError(`--report-only takes no other option (got --${other.join(', --')})`);
  }
  const num = (name: string, v: string | undefined, def: number, ok: (n: number) => boolean) => {
    const n = v === undefined ? def : Number(v);
    if (!ok(n)) throw new RangeError(`--${name}: invalid value ${JSON.stringify(v)}`);
    return n;
  };
  const instances = num('instances', values.instances, 8, (n) => Number.isInteger(n) && n >= 1 && n <= 250);
  const slow = num('slow', values.slow, 2, (n) => Number.isInteger(n) && n >= 0 && n <= instances);
  const seed = num('seed', values.seed, 7, Number.isInteger);
  const requestsScale = num('requests-scale', values['requests-scale'], 1, (n) => n > 0 && n <= 100);
  const rateScale = num('rate-scale', values['rate-scale'], 1, (n) => n > 0 && n <= 100);
  const quick = values.quick === true;
  const byName = <T extends { name: string }>(all: T[], list: string | undefined, what: string): T[] => {
    if (list === undefined) return all;
    return list.split(',').map((n) => {
      const found = all.find((x) => x.name === n.trim());
      if (!found) throw new RangeError(`unknown ${what} "${n.trim()}" (known: ${all.map((x) => x.name).join(', ')})`);
      return found;
    });
  };
  const chosen = byName(WORKLOADS, values.workloads ?? (quick ? QUICK_WORKLOADS.join(',') : undefined), 'workload');
  const share = (quick ? QUICK_SHARE : 1) * requestsScale;
  const workloads = chosen.map((w) => ({ ...w, requests: Math.max(1, Math.round(w.requests * share)), rate: w.rate * rateScale }));
  const policies = byName(POLICIES, values.policies, 'policy');
  const complete =
    !quick && requestsScale === 1 && rateScale === 1 && instances === 8 && slow === 2 &&
    WORKLOADS.every((w) => chosen.includes(w)) && POLICIES.every((p) => policies.includes(p));
  return {
    ...(values['report-only'] ? { reportFrom: values.results ?? RAW } : {}),
    workloads,
    policies,
    fleet: { instances, slow, slowSpeed: 0.5, kvBlocks: 3000, loras: LORA_ADAPTERS, maxLoras: 2, port: 18_770 },
    seed,
    quick,
    complete,
    docs: values['no-docs'] ? 'never' : values['write-docs'] ? 'always' : 'auto',
  };
}

async function main(): Promise<void> {
  let cli: Cli | undefined;
  try {
    cli = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`bench:scheduling: ${(err as Error).message}\n\n${USAGE}\n`);
    process.exit(2);
  }
  if (!cli) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  if (cli.reportFrom !== undefined) {
    try {
      await reportOnly(cli.reportFrom);
    } catch (err) {
      process.stderr.write(`bench:scheduling: ${(err as Error).message}\n`);
      process.exitCode = 1;
    }
    return;
  }
  const startedAt = new Date();
  // Cheap (well under a second per workload) and it fails fast on a workload the simulator would reject.
  const bounds = cli.workloads.map((w) => idealBound(w, cli.fleet, cli.seed));
  const entries = await buildEntries();
  if (entries.fallbackReason) process.stderr.write(`running the router and engines through tsx: ${entries.fallbackReason}\n`);
  const cells = cli.workloads.reduce((n, w) => n + cli.policies.filter((p) => runs(w, p)).length, 0);
  const results: CellResult[] = [];
  for (const [i, w] of cli.workloads.entries()) {
    for (const p of cli.policies.filter((p) => runs(w, p))) {
      const n = results.length + 1;
      process.stderr.write(`[${n}/${cells}] ${w.name} × ${p.name}: ${w.requests} requests at ${w.rate} req/s ...\n`);
      const r = await runCell({ workload: w, policy: p, fleet: cli.fleet, seed: cli.seed, entries });
      results.push(r);
      process.stderr.write(`        ${cellLine(r)}\n`);
    }
    printTable(w, results, bounds[i]!);
  }
  const checks = checkTargets(results, POLICIES.map((p) => p.name));
  printChecks(checks);
  const wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  process.stdout.write(`\n${cells} cells in ${(wallSeconds / 60).toFixed(1)} min\n`);
  const command = `npm run bench:scheduling${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
  const info: RunInfo = { command, startedAt, wallSeconds, quick: cli.quick, seed: cli.seed, fleet: cli.fleet, launch: entries.kind };
  await writeRawResults(RAW, {
    ...info,
    startedAt: startedAt.toISOString(),
    workloads: cli.workloads.map((w) => ({ name: w.name, requests: w.requests, rate: w.rate })),
    policies: cli.policies.map((p) => p.name),
    results,
    bounds,
  });
  if (cli.docs === 'always' || (cli.docs === 'auto' && cli.complete)) await writeDocs(results, cli.workloads, cli.policies, checks, info, bounds);
}

/** --report-only: the docs of a finished run, with the bound recomputed from the current code. */
async function reportOnly(path: string): Promise<void> {
  const run = await readRawResults(path);
  const bounds = run.workloads.map((w) => idealBound(w, run.info.fleet, run.info.seed));
  for (const [i, w] of run.workloads.entries()) printTable(w, run.results, bounds[i]!);
  const checks = checkTargets(run.results, run.policies.map((p) => p.name));
  printChecks(checks);
  await writeDocs(run.results, run.workloads, run.policies, checks, run.info, bounds);
}

function printTable(w: BenchWorkload, results: CellResult[], bound: BoundResult): void {
  process.stdout.write(`\n### ${w.name}\n\n${workloadTable(results.filter((r) => r.workload === w.name), bound)}\n`);
}

function printChecks(checks: TargetCheck[]): void {
  const mark = (c: TargetCheck) => (c.pass === undefined ? '' : c.pass ? ' (met)' : ' (MISSED)');
  process.stdout.write(`\n### Targets\n\n${checks.map((c) => `- ${c.target}: ${c.result}${mark(c)}`).join('\n')}\n`);
}

async function writeDocs(
  results: CellResult[], workloads: BenchWorkload[], policies: Policy[], checks: TargetCheck[], info: RunInfo, bounds: BoundResult[],
): Promise<void> {
  await mkdir(`${DOCS}benchmarks`, { recursive: true });
  await writeFile(`${DOCS}benchmarks/scheduling.svg`, chartSvg(results, workloads, policies));
  await writeFile(`${DOCS}benchmarks.md`, await benchmarksMarkdown(results, workloads, policies, checks, info, bounds));
  process.stdout.write('wrote docs/benchmarks.md and docs/benchmarks/scheduling.svg\n');
}

/** One line per cell on stderr: the headline numbers plus how the work spread over the fleet. */
function cellLine(r: CellResult): string {
  const per = (f: (x: CellResult['perInstance'][number]) => number) => r.perInstance.map(f).join(' ');
  return (
    `${fixed(r.throughput, 2)} req/s, TTFT p50 ${fixed(r.ttftP50, 0)} ms, prefix hits ${fixed(100 * r.prefixHitRate, 1)}%, ` +
    `${r.requests - r.completed} failed${r.providerRequests === undefined ? '' : `, ${r.rejectedOrLate} refused or TTFT > 1 s, ${r.providerRequests} to the provider`}; wall ${fixed(r.wallSeconds, 1)} s, cpu ${fixed(r.cpu.benchCores, 2)} cores ` +
    `(router ${fixed(r.cpu.routerCores, 2)}), machine ${r.cpu.machineBusy === undefined ? '?' : Math.round(100 * r.cpu.machineBusy)}% busy\n` +
    `        per engine: requests ${per((x) => x.requests)} | hit% ${per((x) => Math.round((100 * x.prefixHits) / Math.max(1, x.prefixQueries)))}`
  );
}

await main();
