import type { CellResult } from './cell.js';

// The targets, checked on one run. "Wins" tolerates measurement noise: on throughput and on TTFT p50, ours
// is the best of the policies or within WIN_TOLERANCE of the best.

export const WIN_TOLERANCE = 0.05;

export interface TargetCheck {
  target: string;
  result: string;
  /** undefined when the cells it needs were not run. */
  pass: boolean | undefined;
}

const pct = (v: number) => `${v > 0 ? '+' : ''}${Math.round(100 * v)}%`;

export function checkTargets(results: CellResult[], allPolicies: string[]): TargetCheck[] {
  // precise is an opt-in variant of ours (it needs engines publishing KV-cache events): checked on its own below.
  const policies = allPolicies.filter((p) => p !== 'precise');
  const cell = (w: string, p: string) => results.find((r) => r.workload === w && r.policy === p);
  const checks: TargetCheck[] = [];
  const ours = cell('long-system-prompt', 'ours');
  const random = cell('long-system-prompt', 'random');
  const thr = ours && random ? ours.throughput / random.throughput : undefined;
  checks.push({
    target: 'long-system-prompt: throughput ≥ 3× random',
    result: thr === undefined ? 'not run' : `${thr.toFixed(2)}×`,
    pass: thr === undefined ? undefined : thr >= 3,
  });
  const ttft = ours && random ? 1 - ours.ttftP50 / random.ttftP50 : undefined;
  checks.push({
    target: 'long-system-prompt: TTFT p50 ≥ 80% lower than random',
    result: ttft === undefined ? 'not run' : `${Math.round(100 * ttft)}% lower`,
    pass: ttft === undefined ? undefined : ttft >= 0.8,
  });
  const so = cell('short-prompt', 'ours');
  const lr = cell('short-prompt', 'least-request');
  checks.push({
    target: 'short-prompt: within 5% of least-request (throughput and TTFT p50)',
    result: so && lr ? `throughput ${pct(so.throughput / lr.throughput - 1)}, TTFT p50 ${pct(so.ttftP50 / lr.ttftP50 - 1)}` : 'not run',
    pass: so && lr ? so.throughput >= 0.95 * lr.throughput && so.ttftP50 <= 1.05 * lr.ttftP50 : undefined,
  });
  const workloads = [...new Set(results.map((r) => r.workload))].filter((w) => !SPILL_WORKLOADS.includes(w));
  const lost: string[] = [];
  let complete = workloads.length > 0;
  for (const w of workloads) {
    const rows = results.filter((r) => r.workload === w && policies.includes(r.policy));
    const o = rows.find((r) => r.policy === 'ours');
    if (!o || rows.length < policies.length) {
      complete = false;
      continue;
    }
    const bestThr = Math.max(...rows.map((r) => r.throughput));
    const bestTtft = Math.min(...rows.map((r) => r.ttftP50));
    if (o.throughput < (1 - WIN_TOLERANCE) * bestThr) lost.push(`${w} (throughput ${pct(o.throughput / bestThr - 1)} vs best)`);
    if (o.ttftP50 > (1 + WIN_TOLERANCE) * bestTtft) lost.push(`${w} (TTFT p50 ${pct(o.ttftP50 / bestTtft - 1)} vs best)`);
  }
  checks.push({
    target: `ours wins on every workload (best or within ${100 * WIN_TOLERANCE}% of the best on throughput and on TTFT p50)`,
    result: !complete ? 'not every policy run' : lost.length === 0 ? `yes, ${workloads.length} workloads` : `no: ${lost.join('; ')}`,
    pass: !complete ? undefined : lost.length === 0,
  });
  checks.push(...preciseChecks(results), spillCheck(results));
  return checks;
}

/** Workloads that compare spill-over on and off (their own policies, outside the matrix). */
export const SPILL_WORKLOADS = ['spill-burst'];

function spillCheck(results: CellResult[]): TargetCheck {
  const off = results.find((r) => r.workload === 'spill-burst' && r.policy === 'spill-off');
  const on = results.find((r) => r.workload === 'spill-burst' && r.policy === 'spill-on');
  const target = 'spill-burst: requests refused or with TTFT > 1 s fall by ≥ 90% with spill-over on';
  if (!off || !on || off.rejectedOrLate === undefined || on.rejectedOrLate === undefined) return { target, result: 'not run', pass: undefined };
  const fall = off.rejectedOrLate > 0 ? 1 - on.rejectedOrLate / off.rejectedOrLate : 0;
  return {
    target,
    result: `${off.rejectedOrLate} → ${on.rejectedOrLate} (${Math.round(100 * fall)}% fewer; ${on.providerRequests ?? 0} of ${on.requests} to the provider)`,
    pass: off.rejectedOrLate > 0 && fall >= 0.9,
  };
}

/** Where guessing fails: the engines evict, restart, or get work from another replica. */
export const GUESS_FAILS = ['cache-pressure', 'pod-restart', 'two-replicas'];

/** Issue 15's targets: precise prefix routing against today's default (ours). */
function preciseChecks(results: CellResult[]): TargetCheck[] {
  const cell = (w: string, p: string) => results.find((r) => r.workload === w && r.policy === p);
  const gains = GUESS_FAILS.map((w) => {
    const [p, o] = [cell(w, 'precise'), cell(w, 'ours')];
    return { w, gain: p && o ? 1 - p.ttftP50 / o.ttftP50 : undefined };
  });
  const run = gains.filter((g) => g.gain !== undefined);
  const others = [...new Set(results.map((r) => r.workload))].filter((w) => !GUESS_FAILS.includes(w));
  const ratios = others.flatMap((w) => {
    const [p, o] = [cell(w, 'precise'), cell(w, 'ours')];
    return p && o ? [{ w, ratio: p.ttftP50 / o.ttftP50 }] : [];
  });
  return [
    {
      target: `${GUESS_FAILS.join(', ')}: precise's TTFT p50 ≥ 25% lower than ours`,
      result: run.length === 0 ? 'not run' : run.map((g) => `${g.w} ${Math.round(100 * g.gain!)}% lower`).join(', '),
      pass: run.length < GUESS_FAILS.length ? undefined : run.every((g) => g.gain! >= 0.25),
    },
    {
      target: "other workloads: precise's TTFT p50 within 5% of ours or better",
      result: ratios.length === 0 ? 'not run' : ratios.map((r) => `${r.w} ${pct(r.ratio - 1)}`).join(', '),
      pass: ratios.length === 0 ? undefined : ratios.every((r) => r.ratio <= 1 + WIN_TOLERANCE),
    },
  ];
}
