import type { CellResult, RowMetrics } from './cell.js';
import type { BoundResult } from './ideal.js';

// Markdown tables, one per workload: a row per policy, then the computed ideal bound if given; ratios against random.

export function workloadTable(rows: CellResult[], bound?: BoundResult, baseline = 'random'): string {
  const base = rows.find((r) => r.policy === baseline);
  const head = ['policy', 'req/s', 'output tok/s', 'TTFT p50 ms', 'TTFT p99 ms', 'e2e p99 ms', 'prefix hits', 'errors', `req/s vs ${baseline}`, `TTFT p50 vs ${baseline}`];
  const lines = [row(head), row(head.map((_, i) => (i === 0 ? '---' : '---:')))];
  const metrics = (r: RowMetrics, errors: string) => [
    r.policy,
    fixed(r.throughput, 2),
    fixed(r.outputTokensPerSecond, 0),
    fixed(r.ttftP50, 0),
    fixed(r.ttftP99, 0),
    fixed(r.e2eP99, 0),
    `${fixed(100 * r.prefixHitRate, 1)}%`,
    errors,
    base ? `${fixed(r.throughput / base.throughput, 2)}×` : '-',
    base ? signedPercent(r.ttftP50 / base.ttftP50 - 1) : '-',
  ];
  for (const r of rows) {
    const errors = r.requests - r.completed;
    lines.push(row(metrics(r, errors === 0 ? '0' : `${errors} (${Object.entries(r.errors).map(([k, n]) => `${k}: ${n}`).join(', ')})`)));
  }
  if (bound) lines.push(row(metrics(bound, '-')));
  return lines.join('\n');
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function fixed(v: number, digits: number): string {
  return Number.isFinite(v) ? v.toFixed(digits) : '-';
}

function signedPercent(v: number): string {
  if (!Number.isFinite(v)) return '-';
  const p = Math.round(100 * v);
  return `${p > 0 ? '+' : ''}${p}%`;
}
