import { diag, DiagLogLevel, type DiagLogger } from '@opentelemetry/api';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { detectResources, envDetector, resourceFromAttributes } from '@opentelemetry/resources';
import { BasicTracerProvider, BatchSpanProcessor, ConsoleSpanExporter, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import type { Logger } from '../logger.js';
import { tracingConfigFromEnv, type OtlpProtocol } from './config.js';
import { useTracer } from './request-trace.js';

export interface Tracing {
  /** Exports what is still queued, within `timeoutMs`, and stops tracing. */
  shutdown(timeoutMs: number): Promise<void>;
}

/**
 * Starts tracing when the OTEL_* environment asks for it (see config.ts); undefined otherwise, and then no span is
 * ever created. The official SDK reads the rest of the environment itself: endpoints, headers, certificates,
 * timeouts and compression (OTEL_EXPORTER_OTLP_*), the sampler (OTEL_TRACES_SAMPLER, OTEL_TRACES_SAMPLER_ARG), span
 * limits (OTEL_SPAN_*), the batch processor (OTEL_BSP_*) and the resource (OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES).
 */
export function startTracing(env: Record<string, string | undefined>, log: Logger): Tracing | undefined {
  const config = tracingConfigFromEnv(env);
  if (!config) return undefined;
  for (const w of config.warnings) log.warn(w);
  diag.setLogger(diagToLog(log.child({ component: 'otel' })), DiagLogLevel.WARN);
  const resource = resourceFromAttributes({ [ATTR_SERVICE_NAME]: 'kthena-router' }).merge(
    detectResources({ detectors: [envDetector] }),
  );
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: config.exporters.map((kind) => new BatchSpanProcessor(exporter(kind, config.protocol))),
  });
  useTracer(provider.getTracer('kthena-router'));
  log.info({ exporters: config.exporters, protocol: config.protocol }, 'tracing on');
  return {
    async shutdown(timeoutMs) {
      useTracer(undefined);
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => {
        timer = setTimeout(() => {
          log.warn({ timeoutMs }, 'trace export did not finish before shutdown');
          resolve();
        }, timeoutMs);
        timer.unref();
      });
      await Promise.race([provider.shutdown().catch((err: unknown) => log.warn({ err: String(err) }, 'trace shutdown failed')), late]);
      clearTimeout(timer);
    },
  };
}

function exporter(kind: 'otlp' | 'console', protocol: OtlpProtocol): SpanExporter {
  if (kind === 'console') return new ConsoleSpanExporter();
  if (protocol === 'grpc') return new GrpcExporter();
  return protocol === 'http/json' ? new JsonExporter() : new ProtoExporter();
}

/** The SDK's own warnings (an unreachable collector, a full queue) go to the router's log. */
function diagToLog(log: Logger): DiagLogger {
  const write = (level: 'error' | 'warn' | 'info' | 'debug') => (message: string, ...args: unknown[]) =>
    log[level]({ args: args.map(String) }, message);
  return { error: write('error'), warn: write('warn'), info: write('info'), debug: write('debug'), verbose: write('debug') };
}
