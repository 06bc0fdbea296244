// A real OpenTelemetry Collector (tools/otelcol: OTLP receiver → file exporter) for the tracing tests. The router
// exports to it like to any collector; the test reads what arrived from the exporter's JSON-lines file.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { freePort, until } from './router-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** The collector binary: $OTELCOL_BIN, else the one scripts/setup-otelcol.sh built and cached (built now if missing). */
export function otelcolBinary(): string {
  const out = execFileSync('bash', [join(ROOT, 'scripts/setup-otelcol.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  return out.trim().split('\n').pop()!;
}

/** One span as the collector received it; attribute values decoded from OTLP JSON. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** '' for a root span. */
  parentSpanId: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client. */
  kind: number;
  attributes: Record<string, unknown>;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  statusCode: number;
  startNs: bigint;
  endNs: bigint;
  resource: Record<string, unknown>;
}

export interface Collector {
  /** `http://host:port` of the OTLP/HTTP receiver (OTEL_EXPORTER_OTLP_ENDPOINT). */
  httpEndpoint: string;
  /** `http://host:port` of the OTLP/gRPC receiver. */
  grpcEndpoint: string;
  /** Every span written so far. */
  spans(): ReceivedSpan[];
  /** Waits until `pick` finds what it looks for among the spans written so far, and returns that. */
  waitFor<T>(pick: (spans: ReceivedSpan[]) => T | undefined, timeoutMs?: number): Promise<T>;
  stop(): Promise<void>;
}

export async function startCollector(host = '127.0.0.1'): Promise<Collector> {
  const dir = mkdtempSync(join(tmpdir(), 'kthena-otelcol-'));
  const output = join(dir, 'spans.jsonl');
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const config = {
    receivers: { otlp: { protocols: { http: { endpoint: `${host}:${httpPort}` }, grpc: { endpoint: `${host}:${grpcPort}` } } } },
    exporters: { file: { path: output, format: 'json', flush_interval: '100ms' } },
    service: {
      pipelines: { traces: { receivers: ['otlp'], exporters: ['file'] } },
      // No metrics server of its own (it would take :8888, shared by every test run on the machine).
      telemetry: { metrics: { level: 'none' }, logs: { level: 'info' } },
    },
  };
  writeFileSync(join(dir, 'config.yaml'), stringify(config));
  const child: ChildProcess = spawn(otelcolBinary(), ['--config', join(dir, 'config.yaml')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout!.on('data', (d) => (log += d));
  child.stderr!.on('data', (d) => (log += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await until(() => log.includes('Everything is ready') || child.exitCode !== null, 60_000, 'collector start');
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}: ${log}`);
  }
  if (child.exitCode !== null) throw new Error(`collector exited with ${child.exitCode}: ${log}`);

  const spans = (): ReceivedSpan[] => (existsSync(output) ? parseSpans(readFileSync(output, 'utf8')) : []);
  return {
    httpEndpoint: `http://${host}:${httpPort}`,
    grpcEndpoint: `http://${host}:${grpcPort}`,
    spans,
    async waitFor(pick, timeoutMs = 15_000) {
      let found: ReturnType<typeof pick> | undefined;
      await until(() => (found = pick(spans())) !== undefined, timeoutMs, 'spans at the collector').catch((err: Error) => {
        throw new Error(`${err.message}; received: ${JSON.stringify(spans().map((s) => [s.name, s.traceId, s.spanId, s.parentSpanId]))}`);
      });
      return found!;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

interface OtlpValue {
  stringValue?: string;
  intValue?: string | number;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: OtlpValue[] };
}
type OtlpAttributes = Array<{ key: string; value: OtlpValue }> | undefined;

function decode(v: OtlpValue): unknown {
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return v.doubleValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(decode);
  return undefined;
}

function attributes(list: OtlpAttributes): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((a) => [a.key, decode(a.value)]));
}

/** The file exporter's JSON lines: one ExportTraceServiceRequest (OTLP JSON) per line. */
export function parseSpans(text: string): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const req = JSON.parse(line) as { resourceSpans?: any[] };
    for (const rs of req.resourceSpans ?? []) {
      const resource = attributes(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          out.push({
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId ?? '',
            name: s.name,
            kind: s.kind ?? 0,
            attributes: attributes(s.attributes),
            statusCode: s.status?.code ?? 0,
            startNs: BigInt(s.startTimeUnixNano ?? 0),
            endNs: BigInt(s.endTimeUnixNano ?? 0),
            resource,
          });
        }
      }
    }
  }
  return out;
}
