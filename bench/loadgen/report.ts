import type { RequestResult } from './client.js';
import { summarize, type Summary } from './stats.js';

export interface RunSettings {
  mode: 'open-loop' | 'closed-loop';
  rate?: number;
  burstiness?: number;
  /** Closed loop: workers; open loop: cap on requests in flight, if any. */
  concurrency?: number;
  durationSeconds?: number;
  maxRequests?: number;
  seed: number;
}

export interface ClassReport {
  sent: number;
  completed: number;
  ttftMs: Summary;
  e2eMs: Summary;
}

export interface LoadReport {
  url: string;
  workload: string;
  settings: RunSettings;
  /** From the start of the run to the last completion. */
  durationSeconds: number;
  sent: number;
  completed: number;
  failed: number;
  requestsPerSecond: number;
  outputTokensPerSecond: number;
  outputTokens: number;
  /** Prompt tokens as the server counted them (usage), when it said. */
  promptTokens: number;
  /** Streaming requests only. */
  ttftMs: Summary;
  e2eMs: Summary;
  /** Time per output token after the first: (e2e − TTFT) / (tokens − 1). */
  tpotMs: Summary;
  /** Failures by HTTP status or error code. */
  errors: Record<string, number>;
  /** Per request class of the workload. */
  classes: Record<string, ClassReport>;
}

export function buildReport(
  results: RequestResult[],
  settings: RunSettings,
  meta: { url: string; workload: string; wallSeconds: number },
): LoadReport {
  const ok = results.filter((r) => r.ok);
  const errors: Record<string, number> = {};
  for (const r of results) if (!r.ok) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  const outputTokens = ok.reduce((n, r) => n + r.outputTokens, 0);
  const seconds = meta.wallSeconds;
  const classes: Record<string, ClassReport> = {};
  for (const name of new Set(results.map((r) => r.className))) {
    const mine = results.filter((r) => r.className === name);
    const mineOk = mine.filter((r) => r.ok);
    classes[name] = { sent: mine.length, completed: mineOk.length, ...latencies(mineOk) };
  }
  return {
    url: meta.url,
    workload: meta.workload,
    settings,
    durationSeconds: seconds,
    sent: results.length,
    completed: ok.length,
    failed: results.length - ok.length,
    requestsPerSecond: seconds > 0 ? ok.length / seconds : 0,
    outputTokensPerSecond: seconds > 0 ? outputTokens / seconds : 0,
    outputTokens,
    promptTokens: ok.reduce((n, r) => n + (r.promptTokens ?? 0), 0),
    ...latencies(ok),
    tpotMs: summarize(
      ok.flatMap((r) => (r.ttftMs !== undefined && r.outputTokens > 1 ? [(r.e2eMs - r.ttftMs) / (r.outputTokens - 1)] : [])),
    ),
    errors,
    classes,
  };
}

function latencies(ok: RequestResult[]): { ttftMs: Summary; e2eMs: Summary } {
  return {
    ttftMs: summarize(ok.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs]))),
    e2eMs: summarize(ok.map((r) => r.e2eMs)),
  };
}

/** A human-readable report. */
export function formatReport(r: LoadReport): string {
  const s = r.settings;
  const mode =
    s.mode === 'open-loop'
      ? `open loop, ${s.rate} req/s${s.burstiness !== 1 ? ` (burstiness ${s.burstiness})` : ''}${s.concurrency ? `, max ${s.concurrency} in flight` : ''}`
      : `closed loop, concurrency ${s.concurrency}`;
  const lines = [
    `workload ${r.workload} → ${r.url} · ${mode} · seed ${s.seed}`,
    `requests   ${r.completed} ok / ${r.sent} sent, ${r.failed} failed in ${r.durationSeconds.toFixed(1)} s`,
    `throughput ${r.requestsPerSecond.toFixed(2)} req/s, ${r.outputTokensPerSecond.toFixed(1)} output tok/s (${r.outputTokens} tokens)`,
    '',
    row('', ['mean', 'p50', 'p90', 'p99', 'max']),
    latencyRow('TTFT ms', r.ttftMs),
    latencyRow('TPOT ms', r.tpotMs),
    latencyRow('E2E ms', r.e2eMs),
  ];
  const classNames = Object.keys(r.classes);
  if (classNames.length > 1) {
    lines.push('', row('class', ['ok', 'TTFT p50', 'TTFT p99', 'E2E p50', 'E2E p99']));
    for (const name of classNames) {
      const c = r.classes[name]!;
      lines.push(row(name, [`${c.completed}/${c.sent}`, ms(c.ttftMs.p50), ms(c.ttftMs.p99), ms(c.e2eMs.p50), ms(c.e2eMs.p99)]));
    }
  }
  const errors = Object.entries(r.errors);
  if (errors.length > 0) lines.push('', `errors     ${errors.map(([k, n]) => `${k}: ${n}`).join(', ')}`);
  return lines.join('\n');
}

function latencyRow(label: string, s: Summary): string {
  return row(label, [ms(s.mean), ms(s.p50), ms(s.p90), ms(s.p99), ms(s.max)]);
}

function row(label: string, cells: string[]): string {
  return label.padEnd(14) + cells.map((c) => c.padStart(10)).join('');
}

function ms(v: number): string {
  return Number.isNaN(v) ? '-' : v.toFixed(1);
}
