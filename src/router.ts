import type { Server } from 'node:http';
import type { RouterConfig } from './config/config.js';
import { AdmissionControl } from './core/admission.js';
import { Authenticator, parseAuthConfig } from './filters/auth/index.js';
import { parseRateLimitConfig, RateLimiter } from './filters/ratelimit/index.js';
import { loadProviderSettings, OutlierDetector } from './providers/index.js';
import { closeTokenizer, configureTokenizer, countTokensAsync, preloadTokenizers } from './tokenizer/index.js';
import { ApiPaths } from './core/api-paths.js';
import { RoutingPipeline } from './core/pipeline.js';
import { warnDanglingRoutes } from './core/route-references.js';
import { Datastore } from './datastore/datastore.js';
import type { Endpoint } from './datastore/endpoint.js';
import type { TlsOption } from './frontends/extproc/credentials.js';
import { ExtProcServer, startHealthServer, type HealthServer } from './frontends/extproc/index.js';
import { listening } from './frontends/listen-error.js';
import { startProxyServer, type ProxyServer } from './frontends/proxy/index.js';
import { TrustedProxies } from './frontends/proxy/trusted-proxies.js';
import { BodyBudget } from './frontends/body-budget.js';
import { MetricsFetcher } from './metrics-fetcher/fetcher.js';
import { AccessLog, type LineWriter } from './observability/access-log.js';
import { exportFleetGauges } from './observability/fleet-gauges.js';
import { startMetricsServer } from './observability/http-server.js';
import { logger } from './observability/logger.js';
import { objectivePriorities } from './scheduler/fairness/objectives.js';
import { Scheduler } from './scheduler/scheduler.js';
import { FileSource } from './sources/files.js';
import type { ResourceSource } from './sources/types.js';

export interface RouterOptions {
  config: RouterConfig;
  resources: string[];
  /** Extra sources (e.g. Kubernetes), started after the files. */
  sources?: ResourceSource[];
  host: string;
  grpcPort: number;
  /** ext_proc over TLS; plaintext gRPC when absent. The extra health port stays plaintext (kubelet probes). */
  tls?: TlsOption;
  /** 0 disables the extra health port. */
  healthPort: number;
  /** 0 disables the standalone proxy. */
  httpPort: number;
  /** 0 disables the metrics/health HTTP server. */
  metricsPort: number;
  pool?: { namespace: string; name: string };
  /** Where access-log lines go; stdout when unset. */
  accessLogOutput?: LineWriter;
}

export interface Router {
  datastore: Datastore;
  pipeline: RoutingPipeline;
  ports: { grpc: number; health?: number; http?: number; metrics?: number };
  ready(): boolean;
  /**
   * Graceful: readiness off; ext_proc keeps serving for `drainDelayMs` when something health-checks it; in-flight
   * streams drain up to `graceMs`; then everything closes.
   */
  stop(graceMs?: number, drainDelayMs?: number): Promise<void>;
}

/** Composition root: wires sources → datastore → metrics fetcher → scheduler → pipeline → front doors. */
export async function startRouter(opts: RouterOptions): Promise<Router> {
  const { config } = opts;
  const datastore = new Datastore({ poolEngine: config.inferencePool.engine, pool: opts.pool });
  const scheduler = new Scheduler(config.scheduler);
  const admission = config.flowControl.enabled
    ? new AdmissionControl(
        config.flowControl,
        (group) => endpointsOfGroup(datastore, group),
        objectivePriorities((ns, name) => datastore.objective(ns, name)),
      )
    : undefined;
  const auth =
    config.auth === undefined
      ? undefined
      : new Authenticator(parseAuthConfig(config.auth), { getSecret: (ns, name) => datastore.secret(ns, name)?.data });
  // Always present: with no limits configured it admits everything and still counts tokens per model and tenant.
  const rateLimiter = new RateLimiter(parseRateLimitConfig(config.rateLimit));
  configureTokenizer({
    workers: config.tokenizer.workers,
    maxQueued: config.tokenizer.maxQueued,
    workerTimeoutMs: config.tokenizer.timeoutMs,
  });
  const outlier = new OutlierDetector(config.outlierDetection);
  const pipeline = new RoutingPipeline({
    datastore,
    scheduler,
    maxBodyBytes: config.router.maxBodyBytes,
    maxJsonDepth: config.router.maxJsonDepth,
    pool: opts.pool,
    testMode: config.router.testMode,
    admission,
    auth,
    rateLimit: rateLimiter,
    countTokens: countTokensAsync,
    providers: loadProviderSettings(config.providers),
    outlier,
    apiPaths: new ApiPaths(config.router.allowedPaths),
    attemptTimeouts: config.router.attemptTimeouts,
    accessLog: config.accessLog.enabled ? new AccessLog(config.accessLog, opts.accessLogOutput) : undefined,
    spillOver: config.spillOver,
  });
  const stopFleetGauges = exportFleetGauges(datastore);

  forgetRemovedEndpoints(datastore, scheduler);
  const sources: ResourceSource[] = [];
  if (opts.resources.length > 0) sources.push(new FileSource(opts.resources));
  sources.push(...(opts.sources ?? []));

  const fetcher = new MetricsFetcher({
    intervalMs: config.metrics.scrapeIntervalMs,
    timeoutMs: config.metrics.scrapeTimeoutMs,
    staleAfterMs: config.metrics.staleAfterMs,
    maxScrapesPerSecond: config.metrics.maxScrapesPerSecond,
    getEndpoints: () => datastore.allEndpoints(),
    onUpdate: resetPicksOnFreshScrape(),
  });
  fetcher.start();

  let resourcesLoaded = false;
  const ready = () => resourcesLoaded;
  const extproc = new ExtProcServer();
  // One ceiling on buffered request bodies for both front doors.
  const bodyBudget = new BodyBudget(config.router.maxBufferedBodyBytes);
  const ports: Router['ports'] = { grpc: 0 };
  let metricsServer: Server | undefined;
  let health: HealthServer | undefined;
  let proxy: ProxyServer | undefined;
  try {
    const started = await listening('ext_proc', '--grpc-port', opts.host, opts.grpcPort, () =>
      extproc.start({
        host: opts.host,
        port: opts.grpcPort,
        ...(opts.tls && { tls: opts.tls }),
        pipeline,
        maxBodyBytes: config.router.maxBodyBytes,
        decisionTimeoutMs: config.router.decisionTimeoutMs,
        testMode: config.router.testMode,
        messageTimeoutMs: config.router.messageTimeoutMs,
        requestIdleTimeoutMs: config.router.requestIdleTimeoutMs,
        responseIdleTimeoutMs: config.router.responseIdleTimeoutMs,
        bodyBudget,
      }),
    );
    ports.grpc = started.port;
    if (opts.healthPort !== 0) {
      health = await listening('gRPC health', '--health-port', opts.host, opts.healthPort, () =>
        startHealthServer({ host: opts.host, port: opts.healthPort, health: extproc.health }),
      );
      ports.health = health.port;
    }
    if (opts.httpPort !== 0) {
      proxy = await listening('the proxy', '--http-port', opts.host, opts.httpPort, () =>
        startProxyServer({
          host: opts.host,
          port: opts.httpPort,
          pipeline,
          maxBodyBytes: config.router.maxBodyBytes,
          headersTimeoutMs: config.router.headersTimeoutMs,
          requestReceiveTimeoutMs: config.router.requestReceiveTimeoutMs,
          trustedProxies: new TrustedProxies(config.router.trustedProxies),
          bodyBudget,
          requestIdleTimeoutMs: config.router.requestIdleTimeoutMs,
        }),
      );
      ports.http = proxy.port;
    }
    if (opts.metricsPort !== 0) {
      metricsServer = await listening('metrics', '--metrics-port', opts.host, opts.metricsPort, () =>
        startMetricsServer({
          host: opts.host,
          port: opts.metricsPort,
          isReady: () => ready(),
          debug: config.debugEndpoints.enabled ? { config, datastore, ejections: outlier } : undefined,
        }),
      );
      ports.metrics = (metricsServer.address() as { port: number }).port;
    }
  } catch (err) {
    await Promise.all([extproc.stop(0), proxy?.close(0), health?.stop(), fetcher.stop()]);
    stopFleetGauges();
    metricsServer?.close();
    throw err;
  }
  // Servers listen before the sources sync so that liveness answers during a slow first sync; readiness waits.
  try {
    for (const s of sources) await s.start(datastore.sinkFor(s.name));
  } catch (err) {
    await Promise.all([extproc.stop(0), proxy?.close(0), health?.stop(), fetcher.stop()]);
    stopFleetGauges();
    metricsServer?.close();
    for (const s of sources) await s.stop();
    throw err;
  }
  const stopDanglingWarnings = warnDanglingRoutes(datastore, logger);
  resourcesLoaded = true;
  extproc.health.setReady(true);
  // Warm-ups off the start path: tokenizer tables take about a second to build, a JWKS one round trip.
  void preloadTokenizers(servedModels(datastore)).catch((err) => logger.warn({ err: String(err) }, 'tokenizer preload failed'));
  void auth?.start().catch((err) => logger.warn({ err: String(err) }, 'auth warm-up failed'));
  logger.info({ ports, extproc: opts.tls ? 'tls' : 'plaintext', endpoints: [...datastore.allEndpoints()].length }, 'kthena-router ready');

  return {
    datastore,
    pipeline,
    ports,
    ready,
    async stop(graceMs = 10_000, drainDelayMs = 0) {
      resourcesLoaded = false;
      await Promise.all([extproc.stop(graceMs, drainDelayMs), proxy?.close(graceMs)]);
      await health?.stop();
      await new Promise<void>((resolve) => (metricsServer ? metricsServer.close(() => resolve()) : resolve()));
      await fetcher.stop();
      stopFleetGauges();
      for (const s of sources) await s.stop();
      stopDanglingWarnings();
      admission?.close();
      auth?.close();
      await Promise.all([scheduler.close(), rateLimiter.close(), closeTokenizer()]);
    },
  };
}

/** Model names engines are asked for: what tokenizers to warm up. */
function servedModels(datastore: Datastore): string[] {
  const names = new Set<string>();
  for (const ms of datastore.list('ModelServer')) if (ms.spec.model) names.add(ms.spec.model);
  for (const r of datastore.routes()) if (r.spec.modelName) names.add(r.spec.modelName);
  return [...names];
}

/** Endpoints of a routing group key (`server:<ns>/<name>` or `pool:<ns>/<name>`), for saturation checks. */
function endpointsOfGroup(datastore: Datastore, group: string): Endpoint[] {
  const [kind, ref] = [group.slice(0, group.indexOf(':')), group.slice(group.indexOf(':') + 1)];
  const [ns, name] = ref.split('/') as [string, string];
  return kind === 'pool' ? datastore.endpointsForPool(ns, name) : datastore.endpointsForServer(ns, name);
}

/** Engines' metrics include requests this router sent before the scrape, so its own unscraped count starts over. */
function resetPicksOnFreshScrape(): (e: Endpoint) => void {
  const seen = new WeakMap<Endpoint, number>();
  return (e) => {
    if (e.state.updatedAt !== seen.get(e)) {
      seen.set(e, e.state.updatedAt);
      e.picksSinceScrape = 0;
    }
  };
}

/** Tells the scheduler's plugins when endpoints disappear, so per-endpoint state does not grow without bound. */
function forgetRemovedEndpoints(datastore: Datastore, scheduler: Scheduler): void {
  let known = new Set<string>();
  let pending = false;
  datastore.onChange(() => {
    if (pending) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      const now = new Set([...datastore.allEndpoints()].map((e) => e.address));
      scheduler.endpointsRemoved([...known].filter((a) => !now.has(a)));
      known = now;
    });
  });
}
