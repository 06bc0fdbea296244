import { mkdir, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runCell, type CellResult } from './scheduling/cell.js';
import './scheduling/children.js';
import { buildEntries } from './scheduling/entries.js';
import type { FleetSpec } from './scheduling/fleet.js';
import { POLICIES } from './scheduling/policies.js';
import { benchmarksMarkdown, chartSvg } from './scheduling/report.js';
import { fixed, workloadTable } from './scheduling/table.js';
import { checkTargets } from './scheduling/targets.js';
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
  -h, --help            this text
A complete default run writes docs/benchmarks.md and docs/benchmarks/scheduling.svg; every run writes its raw
results to bench/.cache/scheduling-results.json and prints one table per workload.`;

interface Cli {
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
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) return undefined;
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
  const startedAt = new Date();
  const entries = await buildEntries();
  if (entries.fallbackReason) process.stderr.write(`running the router and engines through tsx: ${entries.fallbackReason}\n`);
  const cells = cli.workloads.length * cli.policies.length;
  const results: CellResult[] = [];
  for (const w of cli.workloads) {
    for (const p of cli.policies) {
      const n = results.length + 1;
      process.stderr.write(`[${n}/${cells}] ${w.name} × ${p.name}: ${w.requests} requests at ${w.rate} req/s ...\n`);
      const r = await runCell({ workload: w, policy: p, fleet: cli.fleet, seed: cli.seed, entries });
      results.push(r);
      process.stderr.write(`        ${cellLine(r)}\n`);
    }
    process.stdout.write(`\n### ${w.name}\n\n${workloadTable(results.filter((r) => r.workload === w.name))}\n`);
  }
  const checks = checkTargets(results, POLICIES.map((p) => p.name));
  process.stdout.write(`\n### Targets\n\n${checks.map((c) => `- ${c.target}: ${c.result}${c.pass === undefined ? '' : c.pass ? ' (met)' : ' (MISSED)'}`).join('\n')}\n`);
  const wallSeconds = (Date.now() - startedAt.getTime()) / 1000;
  process.stdout.write(`\n${cells} cells in ${(wallSeconds / 60).toFixed(1)} min\n`);
  await mkdir(dirname(RAW), { recursive: true });
  await writeFile(RAW, JSON.stringify({ startedAt, fleet: cli.fleet, seed: cli.seed, results }, null, 2));
  if (cli.docs === 'always' || (cli.docs === 'auto' && cli.complete)) {
    const command = `npm run bench:scheduling${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`;
    await mkdir(`${DOCS}benchmarks`, { recursive: true });
    await writeFile(`${DOCS}benchmarks/scheduling.svg`, chartSvg(results, cli.workloads, cli.policies));
    await writeFile(
      `${DOCS}benchmarks.md`,
      await benchmarksMarkdown(results, cli.workloads, cli.policies, checks, {
        command, startedAt, wallSeconds, quick: cli.quick, seed: cli.seed, fleet: cli.fleet, launch: entries.kind,
      }),
    );
    process.stdout.write('wrote docs/benchmarks.md and docs/benchmarks/scheduling.svg\n');
  }
}

/** One line per cell on stderr: the headline numbers plus how the work spread over the fleet. */
function cellLine(r: CellResult): string {
  const per = (f: (x: CellResult['perInstance'][number]) => number) => r.perInstance.map(f).join(' ');
  return (
    `${fixed(r.throughput, 2)} req/s, TTFT p50 ${fixed(r.ttftP50, 0)} ms, prefix hits ${fixed(100 * r.prefixHitRate, 1)}%, ` +
    `${r.requests - r.completed} failed; wall ${fixed(r.wallSeconds, 1)} s, cpu ${fixed(r.cpu.benchCores, 2)} cores ` +
    `(router ${fixed(r.cpu.routerCores, 2)}), machine ${r.cpu.machineBusy === undefined ? '?' : Math.round(100 * r.cpu.machineBusy)}% busy\n` +
    `        per engine: requests ${per((x) => x.requests)} | hit% ${per((x) => Math.round((100 * x.prefixHits) / Math.max(1, x.prefixQueries)))}`
  );
}

await main();
