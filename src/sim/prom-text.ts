// Minimal Prometheus text exposition (format 0.0.4) writer. The simulator renders its own text rather than using
// prom-client so that names, types and number formats match what vLLM's and SGLang's Python client emit.

export type Labels = Readonly<Record<string, string>>;

function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

export function formatLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`);
  return parts.length === 0 ? '' : `{${parts.join(',')}}`;
}

/** Numbers the way Python's client prints them: floats keep a decimal point, infinities are +Inf/-Inf. */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  return Number.isInteger(value) && Math.abs(value) < 1e15 ? value.toFixed(1) : String(value);
}

export class PromText {
  private readonly lines: string[] = [];

  family(name: string, type: 'counter' | 'gauge' | 'histogram', help: string): this {
    this.lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    return this;
  }

  sample(name: string, labels: Labels, value: number): this {
    this.lines.push(`${name}${formatLabels(labels)} ${formatNumber(value)}`);
    return this;
  }

  histogram(name: string, help: string, labels: Labels, h: Histogram): this {
    this.family(name, 'histogram', help);
    let cumulative = 0;
    h.bounds.forEach((bound, i) => {
      cumulative += h.counts[i]!;
      this.sample(`${name}_bucket`, { ...labels, le: formatNumber(bound) }, cumulative);
    });
    this.sample(`${name}_bucket`, { ...labels, le: '+Inf' }, h.count);
    this.sample(`${name}_count`, labels, h.count);
    return this.sample(`${name}_sum`, labels, h.sum);
  }

  toString(): string {
    return this.lines.join('\n') + '\n';
  }
}

export class Histogram {
  readonly counts: number[];
  count = 0;
  sum = 0;

  constructor(readonly bounds: readonly number[]) {
    this.counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.count++;
    this.sum += value;
    const i = this.bounds.findIndex((b) => value <= b);
    if (i >= 0) this.counts[i]!++;
  }
}
