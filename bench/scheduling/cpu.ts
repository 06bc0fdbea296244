import { readFile } from 'node:fs/promises';
import { cpus } from 'node:os';

// CPU accounting for one run, from /proc (Linux): how busy the benchmark's own processes were (this process, the
// router, the simulators) and how busy the whole machine was. The measurement is only trustworthy when the host had
// spare CPU: a saturated host delays simulator steps and SSE events, which looks like slow scheduling.

export const TICKS_PER_SECOND = 100; // USER_HZ on Linux

export interface CpuSample {
  at: number;
  routerPid: number;
  /** Per pid: user + system ticks. */
  ticks: Map<number, number>;
  self: number;
  /** Whole machine: busy and total ticks over all cores (undefined without /proc/stat). */
  machine?: { busy: number; total: number };
}

export interface CpuUsage {
  /** Cores used by the benchmark's processes (1.0 = one core fully busy), averaged over the run. */
  benchCores: number;
  /** The same, split: this process (the load generator), the router, the engines. */
  clientCores: number;
  routerCores: number;
  enginesCores: number;
  /** Share of all cores busy on the machine, 0..1 (everything, including other users' work). */
  machineBusy?: number;
  cores: number;
}

export async function sampleCpu(routerPid: number, enginePids: number[]): Promise<CpuSample> {
  const ticks = new Map<number, number>();
  await Promise.all(
    [routerPid, ...enginePids].map(async (pid) => {
      const t = await processTicks(pid);
      if (t !== undefined) ticks.set(pid, t);
    }),
  );
  const u = process.cpuUsage();
  return { at: performance.now(), routerPid, ticks, self: (u.user + u.system) / 1e6, machine: await machineTicks() };
}

export function cpuBetween(a: CpuSample, b: CpuSample): CpuUsage {
  const seconds = (b.at - a.at) / 1000;
  const per = (used: number) => (seconds > 0 ? used / seconds : 0);
  const client = b.self - a.self;
  let router = 0;
  let engines = 0;
  for (const [pid, t] of b.ticks) {
    const used = (t - (a.ticks.get(pid) ?? t)) / TICKS_PER_SECOND;
    if (pid === b.routerPid) router = used;
    else engines += used;
  }
  const m = a.machine && b.machine && b.machine.total > a.machine.total
    ? (b.machine.busy - a.machine.busy) / (b.machine.total - a.machine.total)
    : undefined;
  return {
    benchCores: per(client + router + engines),
    clientCores: per(client),
    routerCores: per(router),
    enginesCores: per(engines),
    machineBusy: m,
    cores: cpus().length,
  };
}

/** User + system CPU ticks a process has used so far; undefined once it is gone. */
export async function processTicks(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]); // utime, stime (fields 14 and 15 of the whole line)
  } catch {
    return undefined;
  }
}

async function machineTicks(): Promise<{ busy: number; total: number } | undefined> {
  try {
    const line = (await readFile('/proc/stat', 'utf8')).split('\n')[0]!;
    const v = line.trim().split(/\s+/).slice(1).map(Number);
    const total = v.reduce((s, x) => s + x, 0);
    const idle = (v[3] ?? 0) + (v[4] ?? 0); // idle + iowait
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}
