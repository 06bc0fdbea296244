import { pino } from 'pino';

/** One line per request (README "Access log" lists every field). Zero, empty and absent values are left out. */
export interface AccessRecord {
  timestamp: string;
  method: string;
  path: string;
  frontend: string;
  status_code: number;
  error?: { type: string; message?: string };
  request_id?: string;
  model_name?: string;
  model_route?: string;
  model_server?: string;
  backend_type?: string;
  backend_name?: string;
  upstream_model?: string;
  selected_pod?: string;
  served_pod?: string;
  user?: string;
  tenant?: string;
  auth_method?: string;
  input_tokens?: number;
  output_tokens?: number;
  duration_first_token?: number;
  duration_total: number;
}

export type AccessLogFormat = 'json' | 'text';

export interface AccessLogConfig {
  enabled: boolean;
  format: AccessLogFormat;
  /** Fraction of successful requests logged (0-1); failed requests are always logged. */
  sampleRate: number;
}

export interface LineWriter {
  write(line: string): void;
}

/**
 * Writes access-log lines on a stream of their own (stdout by default), outside the application logger: LOG_LEVEL
 * does not filter them, only `accessLog.enabled` and the sampling do.
 */
export class AccessLog {
  private readonly out: LineWriter;

  constructor(
    private readonly config: AccessLogConfig,
    out?: LineWriter,
    private readonly random: () => number = Math.random,
  ) {
    // Synchronous like the application logger's, so that lines of the two never interleave mid-line on stdout.
    this.out = out ?? pino.destination({ dest: 1, sync: true });
  }

  write(r: AccessRecord): void {
    if (!this.config.enabled) return;
    const failed = r.status_code >= 400 || r.error !== undefined;
    if (!failed && this.config.sampleRate < 1 && this.random() >= this.config.sampleRate) return;
    this.out.write((this.config.format === 'text' ? textLine(r) : JSON.stringify(r)) + '\n');
  }
}

/** `[time] "METHOD /path" status [error=type:message] key=value ... tokens=in/out timings=total(first token)`. */
export function textLine(r: AccessRecord): string {
  const parts = [`[${r.timestamp}]`, `"${r.method} ${r.path}"`, String(r.status_code)];
  if (r.error) parts.push(`error=${r.error.type}${r.error.message ? `:${JSON.stringify(r.error.message)}` : ''}`);
  const fields: Array<keyof AccessRecord> = [
    'model_name', 'model_route', 'model_server', 'backend_type', 'upstream_model', 'selected_pod', 'served_pod',
    'request_id', 'user', 'tenant', 'frontend',
  ];
  for (const k of fields) if (r[k] !== undefined && r[k] !== '') parts.push(`${k}=${String(r[k])}`);
  if (r.input_tokens || r.output_tokens) parts.push(`tokens=${r.input_tokens ?? 0}/${r.output_tokens ?? 0}`);
  const first = r.duration_first_token !== undefined ? `(first_token=${r.duration_first_token}ms)` : '';
  parts.push(`timings=${r.duration_total}ms${first}`);
  return parts.join(' ');
}
