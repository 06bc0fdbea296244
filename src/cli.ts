import { parseArgs } from 'node:util';
import type { TlsOption } from './frontends/extproc/credentials.js';
import { LOG_FORMATS, type LogFormat } from './observability/log-format.js';
import { kubernetesCliOptions, kubernetesOptionsFromCli, type KubernetesSourceOptions } from './sources/kubernetes/index.js';

export interface CliOptions {
  config?: string;
  resources: string[];
  host: string;
  grpcPort: number;
  healthPort: number;
  httpPort: number;
  metricsPort: number;
  /** Serve /debug/* on the metrics port (also `debugEndpoints.enabled` in the config). */
  debugEndpoints: boolean;
  poolName?: string;
  poolNamespace: string;
  /** ext_proc over TLS (--secure-serving); plaintext gRPC when absent. */
  tls?: TlsOption;
  /** Set when --kubeconfig or --in-cluster turns the Kubernetes source on. */
  kubernetes?: KubernetesSourceOptions;
  /** --log-format; unset: text on a terminal, JSON otherwise. */
  logFormat?: LogFormat;
}

export const USAGE = `Usage: kthena-router [options]

LLM inference router: Envoy ext_proc endpoint picker (Gateway API Inference Extension protocol) and standalone
OpenAI-compatible proxy for vLLM, SGLang and TGI fleets.

Options:
  --config FILE            router configuration (Kthena routerConfiguration shape + our sections)
  --resources PATH         YAML file or directory of Kubernetes-style objects (Pod, ModelServer, ModelRoute,
                           InferencePool, ExternalModelProvider, Secret); repeatable; re-read on change
  --host ADDR              address to listen on (default 0.0.0.0)
  --grpc-port N            ext_proc gRPC port, with gRPC health (default 9002)
  --secure-serving         serve ext_proc over TLS, as the Gateway API Inference Extension's picker does (gateways
                           such as kgateway and Istio expect it); default plaintext (h2c)
  --cert-path DIR          with --secure-serving: tls.crt and tls.key in DIR (e.g. a mounted TLS Secret);
                           without it a self-signed certificate is generated at start
  --enable-cert-reload     with --cert-path: re-read the files every 10 s and serve a rotated certificate
  --health-port N          extra gRPC health port for probes (default 9003; 0 disables)
  --http-port N            standalone proxy port (default 8080; 0 disables)
  --metrics-port N         /metrics, /healthz, /readyz (default 9090; 0 disables)
  --enable-debug-endpoints serve read-only /debug/config, /debug/endpoints, /debug/routes on the metrics port
                           (default off; also debugEndpoints.enabled in the config)
  --pool-name NAME         InferencePool mode: pick among (and watch, scrape) only this pool's endpoints
  --pool-namespace NS      namespace of the pool (default "default")
  --log-format text|json   log lines for a person or for a collector (default: text when stdout is a terminal,
                           json otherwise); LOG_LEVEL sets the level (default info)

Kubernetes (either of the first two turns the Kubernetes source on):
  --kubeconfig FILE        watch the cluster of this kubeconfig
  --in-cluster             watch the cluster the router runs in (service account)
  --namespace NS           namespace to watch (default $POD_NAMESPACE, else the context's, else "default")
  --all-namespaces         watch every namespace
  --pod-selector SELECTOR  label selector for model-server Pods, e.g. "app=vllm" (with --pool-name, default:
                           the pool's spec.selector)
  --inferencepool-v1alpha2 also watch inference.networking.x-k8s.io/v1alpha2 InferencePools
  --leader-elect           write status conditions from the replica holding the Lease
  --lease-name NAME        the Lease (default kthena-router)
  --lease-namespace NS     namespace of the Lease (default $POD_NAMESPACE)

  -h, --help               show this help
  --version                print the version
`;

export class CliError extends Error {
  override readonly name = 'CliError';
}

export function parseCli(argv: string[]): CliOptions | 'help' | 'version' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        config: { type: 'string' },
        resources: { type: 'string', multiple: true },
        host: { type: 'string' },
        'grpc-port': { type: 'string' },
        'secure-serving': { type: 'boolean' },
        'cert-path': { type: 'string' },
        'enable-cert-reload': { type: 'boolean' },
        'health-port': { type: 'string' },
        'http-port': { type: 'string' },
        'metrics-port': { type: 'string' },
        'enable-debug-endpoints': { type: 'boolean' },
        'pool-name': { type: 'string' },
        'pool-namespace': { type: 'string' },
        'log-format': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean' },
        ...kubernetesCliOptions,
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (values.help) return 'help';
  if (values.version) return 'version';
  const logFormat = values['log-format'];
  if (logFormat !== undefined && !LOG_FORMATS.includes(logFormat as LogFormat)) {
    throw new CliError(`--log-format must be one of ${LOG_FORMATS.join(', ')}`);
  }
  let kubernetes: KubernetesSourceOptions | undefined;
  try {
    kubernetes = kubernetesOptionsFromCli(values);
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  return {
    kubernetes,
    config: values.config,
    resources: values.resources ?? [],
    host: values.host ?? '0.0.0.0',
    grpcPort: port(values['grpc-port'], 9002, '--grpc-port'),
    healthPort: port(values['health-port'], 9003, '--health-port'),
    httpPort: port(values['http-port'], 8080, '--http-port'),
    metricsPort: port(values['metrics-port'], 9090, '--metrics-port'),
    debugEndpoints: values['enable-debug-endpoints'] === true,
    poolName: values['pool-name'],
    poolNamespace: values['pool-namespace'] ?? 'default',
    tls: tlsOption(values['secure-serving'] === true, values['cert-path'], values['enable-cert-reload'] === true),
    ...(logFormat !== undefined && { logFormat: logFormat as LogFormat }),
  };
}

/** How often --enable-cert-reload re-reads the certificate files. */
export const CERT_RELOAD_INTERVAL_MS = 10_000;

function tlsOption(secure: boolean, certPath: string | undefined, reload: boolean): TlsOption | undefined {
  if (!secure) {
    if (certPath !== undefined || reload) throw new CliError('--cert-path and --enable-cert-reload need --secure-serving');
    return undefined;
  }
  if (certPath === undefined) {
    if (reload) throw new CliError('--enable-cert-reload needs --cert-path');
    return 'self-signed';
  }
  return reload ? { certDir: certPath, reloadIntervalMs: CERT_RELOAD_INTERVAL_MS } : { certDir: certPath };
}

function port(v: string | undefined, dflt: number, flag: string): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new CliError(`${flag} must be a port number (0-65535)`);
  return n;
}
