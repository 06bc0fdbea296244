// An endpoint is one serving engine: a pod IP plus one port. Metrics, in-flight counts and prefix affinity are all
// tracked per endpoint, because an InferencePool with several targetPorts runs one engine per port.

export interface EngineMetrics {
  running: number;
  waiting: number;
  /** KV-cache utilisation in 0..1. */
  kvCacheUsage: number;
  /** Average time to first token over the last scrape interval, seconds; undefined when no request finished. */
  ttftSeconds?: number;
  /** Average time per output token over the last scrape interval, seconds. */
  tpotSeconds?: number;
  /** Output tokens per second over the last scrape interval (capacity signal for heterogeneous GPUs). */
  generationTokensPerSecond?: number;
  runningLoras: string[];
  waitingLoras: string[];
  maxLoras?: number;
  blockSize?: number;
  numGpuBlocks?: number;
  /** Prefix-cache hit rate over the last interval, 0..1. */
  prefixCacheHitRate?: number;
}

export interface MetricsState {
  metrics?: EngineMetrics;
  /** Epoch ms of the last successful scrape. */
  updatedAt: number;
  /** True when the last successful scrape is older than the staleness bound or never happened. */
  stale: boolean;
  lastError?: string;
}

export interface Endpoint {
  /** `ip:port` (IPv6: `[ip]:port`), the value sent to the gateway. */
  address: string;
  ip: string;
  port: number;
  podName: string;
  namespace: string;
  labels: Record<string, string>;
  /** Engine that serves on this endpoint: decides which metric names to read. */
  engine: string;
  /** Where the engine's Prometheus metrics live. */
  metricsUrl: string;
  state: MetricsState;
  /** Requests this router sent to the endpoint that have not completed. */
  inflight: number;
  /** Picks since the last successful scrape: load the engine's metrics cannot show yet. */
  picksSinceScrape: number;
}

export function formatAddress(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}
