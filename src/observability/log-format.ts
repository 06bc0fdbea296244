// Log output: JSON lines (pino) for collectors, or one readable line per entry for a person at a terminal. The text
// form is written here rather than with pino-pretty, which is not a dependency: it only reformats pino's JSON line.

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

/** Text for a terminal, JSON otherwise (a pipe, a file, a container log). */
export function defaultLogFormat(stdout: { isTTY?: boolean } = process.stdout): LogFormat {
  return stdout.isTTY ? 'text' : 'json';
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every entry carries; the text form shows the time, level and message in front instead. */
const HIDDEN = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'app']);

/** `03:12:45.120 WARN  message key=value ...` from one pino JSON line; a line that is not JSON is left as is. */
export function textLine(jsonLine: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(jsonLine);
  } catch {
    return jsonLine;
  }
  const time = typeof entry.time === 'number' ? new Date(entry.time).toISOString().slice(11, 23) : '';
  const level = (LEVELS[entry.level as number] ?? String(entry.level)).padEnd(5);
  const fields = Object.entries(entry)
    .filter(([k]) => !HIDDEN.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v)}`);
  return `${[time, level, entry.msg ?? '', ...fields].filter((p) => p !== '').join(' ')}\n`;
}

/** pino's destination: writes each entry to stdout in the current format, which the CLI may change at start. */
export class LogDestination {
  constructor(public format: LogFormat, private readonly out: { write(s: string): unknown } = process.stdout) {}

  write(line: string): void {
    this.out.write(this.format === 'json' ? line : textLine(line));
  }
}
