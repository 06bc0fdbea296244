#!/usr/bin/env node
import { CliError, parseCli, USAGE } from './cli.js';
import { ConfigError, loadConfig } from './config/config.js';
import { logger, setLogFormat } from './observability/logger.js';
import { ListenError } from './frontends/listen-error.js';
import { ResourceError } from './resources/errors.js';
import { startRouter } from './router.js';
import { startTracing } from './observability/tracing/provider.js';
import { KubernetesSource } from './sources/kubernetes/index.js';
import { packageVersion } from './version.js';

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli === 'help') {
    process.stdout.write(USAGE);
    return;
  }
  if (cli === 'version') {
    process.stdout.write(`kthena-router ${packageVersion()}\n`);
    return;
  }
  if (cli.logFormat) setLogFormat(cli.logFormat);
  const config = await loadConfig(cli.config);
  const pool = cli.poolName ? { namespace: cli.poolNamespace, name: cli.poolName } : undefined;
  if (cli.debugEndpoints) config.debugEndpoints.enabled = true;
  // Off unless the standard OTEL_* variables ask for it (README: Tracing).
  const tracing = startTracing(process.env, logger);
  const router = await startRouter({
    config,
    resources: cli.resources,
    host: cli.host,
    grpcPort: cli.grpcPort,
    tls: cli.tls,
    healthPort: cli.healthPort,
    httpPort: cli.httpPort,
    metricsPort: cli.metricsPort,
    pool,
    sources: cli.kubernetes ? [new KubernetesSource({ ...cli.kubernetes, pool })] : [],
  });
  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'draining');
    router
      .stop(Number(process.env.KTHENA_DRAIN_MS ?? 10_000), Number(process.env.KTHENA_DRAIN_DELAY_MS ?? 3_000))
      .then(() => tracing?.shutdown(Number(process.env.KTHENA_TRACE_FLUSH_MS ?? 5_000)))
      .then(
        () => process.exit(0),
        (err) => {
          logger.error({ err: String(err) }, 'shutdown failed');
          process.exit(1);
        },
      );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

// A stray rejection must be logged, not take down every in-flight stream with it.
process.on('unhandledRejection', (err) => logger.error({ err: String(err) }, 'unhandled rejection'));

main().catch((err) => {
  const known = err instanceof CliError || err instanceof ConfigError || err instanceof ResourceError || err instanceof ListenError;
  process.stderr.write(`kthena-router: ${known ? err.message : (err as Error).stack ?? String(err)}\n`);
  if (err instanceof CliError) process.stderr.write(`\n${USAGE}`);
  process.exit(2);
});
