import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { CellResult } from './cell.js';
import type { BoundResult } from './ideal.js';
import { POLICIES, type Policy } from './policies.js';
import type { RunInfo } from './report.js';
import { WORKLOADS, type BenchWorkload } from './workloads.js';

// The raw results of one run (bench/.cache/scheduling-results.json): everything docs/benchmarks.md is generated from,
// so that the page can be rewritten (--report-only) without rerunning the cells.

export interface RawResults {
  startedAt: string;
  fleet: RunInfo['fleet'];
  seed: number;
  results: CellResult[];
  /** The fields below were added later; files of older runs lack them. */
  wallSeconds?: number;
  command?: string;
  quick?: boolean;
  launch?: RunInfo['launch'];
  /** Workloads as run (after --quick, --requests-scale and --rate-scale). */
  workloads?: Array<{ name: string; requests: number; rate: number }>;
  policies?: string[];
  bounds?: BoundResult[];
}

export interface LoadedRun {
  info: RunInfo;
  workloads: BenchWorkload[];
  policies: Policy[];
  results: CellResult[];
}

export async function writeRawResults(path: string, raw: RawResults): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, JSON.stringify(raw, null, 2));
}

/** Reads a raw results file; throws an Error naming the file and the problem. */
export async function readRawResults(path: string): Promise<LoadedRun> {
  let raw: RawResults;
  try {
    raw = JSON.parse(await readFile(path, 'utf8')) as RawResults;
  } catch (err) {
    throw new Error(`cannot read raw results ${path}: ${(err as Error).message}`);
  }
  const bad = (what: string) => new Error(`raw results ${path}: ${what}`);
  if (typeof raw !== 'object' || raw === null || !Array.isArray(raw.results) || raw.results.length === 0) throw bad('no results');
  const startedAt = new Date(raw.startedAt);
  if (Number.isNaN(startedAt.getTime())) throw bad('startedAt is not a date');
  if (typeof raw.fleet !== 'object' || raw.fleet === null || !Number.isInteger(raw.seed)) throw bad('fleet or seed missing');
  const inResults = (key: 'workload' | 'policy') => [...new Set(raw.results.map((r) => r[key]))];

  const workloads = (raw.workloads ?? inResults('workload').map((name) => ({ name, requests: undefined, rate: undefined }))).map((run) => {
    const w = WORKLOADS.find((x) => x.name === run.name);
    if (!w) throw bad(`workload "${run.name}" is no longer defined in bench/scheduling/workloads.ts`);
    const requests = run.requests ?? raw.results.find((r) => r.workload === run.name)?.requests ?? w.requests;
    return { ...w, requests, rate: run.rate ?? w.rate };
  });
  const policies = (raw.policies ?? inResults('policy')).map((name) => {
    const p = POLICIES.find((x) => x.name === name);
    if (!p) throw bad(`policy "${name}" is no longer defined in bench/scheduling/policies.ts`);
    return p;
  });
  // Older files lack the run's duration; they were written as the run ended.
  const wallSeconds = raw.wallSeconds ?? ((await stat(path)).mtimeMs - startedAt.getTime()) / 1000;
  return {
    info: {
      command: raw.command ?? 'npm run bench:scheduling',
      startedAt,
      wallSeconds,
      quick: raw.quick ?? false,
      seed: raw.seed,
      fleet: raw.fleet,
      launch: raw.launch ?? 'bundle',
    },
    workloads,
    policies,
    results: raw.results,
  };
}
