// Which trace exporters the OTEL_* environment asks for. The variables keep the meanings the OpenTelemetry
// specification gives them, with one deliberate difference: tracing is off unless it is asked for (the spec's
// default exporter is `otlp` to localhost, which a router should not start sending to unannounced).

export type OtlpProtocol = 'grpc' | 'http/protobuf' | 'http/json';
export type TraceExporterKind = 'otlp' | 'console';

export interface TracingConfig {
  exporters: TraceExporterKind[];
  /** Used by the `otlp` exporter. */
  protocol: OtlpProtocol;
  /** Values that were ignored (unknown exporter or protocol), for the start-up log. */
  warnings: string[];
}

type Env = Record<string, string | undefined>;

const PROTOCOLS: readonly OtlpProtocol[] = ['grpc', 'http/protobuf', 'http/json'];
const EXPORTERS: readonly TraceExporterKind[] = ['otlp', 'console'];

/**
 * Tracing is on when OTEL_TRACES_EXPORTER names an exporter other than `none`, or, when it is unset, when an OTLP
 * endpoint is configured (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT or OTEL_EXPORTER_OTLP_ENDPOINT). OTEL_SDK_DISABLED=true
 * turns it off whatever else is set. Undefined: off.
 */
export function tracingConfigFromEnv(env: Env): TracingConfig | undefined {
  if (value(env.OTEL_SDK_DISABLED)?.toLowerCase() === 'true') return undefined;
  const warnings: string[] = [];
  const named = value(env.OTEL_TRACES_EXPORTER);
  let exporters: TraceExporterKind[];
  if (named === undefined) {
    const endpoint = value(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) ?? value(env.OTEL_EXPORTER_OTLP_ENDPOINT);
    exporters = endpoint ? ['otlp'] : [];
  } else {
    const names = named.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean);
    // The spec: `none` anywhere in the list means no exporter at all.
    if (names.includes('none')) return undefined;
    exporters = [];
    for (const n of new Set(names)) {
      if ((EXPORTERS as readonly string[]).includes(n)) exporters.push(n as TraceExporterKind);
      else warnings.push(`OTEL_TRACES_EXPORTER: unsupported exporter "${n}" ignored (supported: ${EXPORTERS.join(', ')}, none)`);
    }
  }
  if (exporters.length === 0) return undefined;
  const protocolVar = value(env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) !== undefined ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL' : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const asked = value(env[protocolVar]);
  let protocol: OtlpProtocol = 'http/protobuf';
  if (asked !== undefined) {
    if ((PROTOCOLS as readonly string[]).includes(asked)) protocol = asked as OtlpProtocol;
    else warnings.push(`${protocolVar}: unsupported protocol "${asked}", using http/protobuf (supported: ${PROTOCOLS.join(', ')})`);
  }
  return { exporters, protocol, warnings };
}

/** An empty or blank variable counts as unset, as the spec says. */
function value(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t ? t : undefined;
}
