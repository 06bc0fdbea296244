import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, until } from './router-process.js';

export interface PrometheusProcess {
  url: string;
  /** Instant query through the HTTP API; returns the result vector. */
  query(expr: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>>;
  stop(): Promise<void>;
}

/** Fails with a clear message when Prometheus is not installed (CI installs Debian's package, see .ci/run). */
export function prometheusBinary(name: 'prometheus' | 'promtool'): string {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim();
  if (!found) throw new Error(`${name} is not installed: apt-get install prometheus (Debian's package brings prometheus and promtool)`);
  return found;
}

/**
 * A real Prometheus scraping `targets` as job `job` every `scrapeIntervalS`, with `ruleFiles` loaded, its own storage
 * under `dir` and a free loopback port; resolves once it is ready.
 */
export async function startPrometheus(o: { dir: string; job: string; targets: string[]; ruleFiles?: string[]; scrapeIntervalS?: number }): Promise<PrometheusProcess> {
  const port = await freePort();
  const interval = `${o.scrapeIntervalS ?? 1}s`;
  const config = [
    `global: {scrape_interval: ${interval}, evaluation_interval: ${interval}}`,
    `rule_files: ${JSON.stringify(o.ruleFiles ?? [])}`,
    'scrape_configs:',
    `  - job_name: ${o.job}`,
    `    static_configs: [{targets: ${JSON.stringify(o.targets)}}]`,
  ].join('\n');
  const configFile = join(o.dir, 'prometheus.yml');
  await writeFile(configFile, config + '\n');
  const child: ChildProcess = spawn(
    prometheusBinary('prometheus'),
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(o.dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr = (stderr + d).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  try {
    await until(async () => {
      if (child.exitCode !== null) throw new Error(`prometheus exited: ${stderr}`);
      return (await fetch(`${url}/-/ready`).catch(() => undefined))?.ok === true;
    }, 30_000, 'prometheus ready');
  } catch (err) {
    child.kill();
    throw err;
  }
  return {
    url,
    async query(expr) {
      const res = await fetch(`${url}/api/v1/query?query=${encodeURIComponent(expr)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: any } };
      if (body.status !== 'success') throw new Error(`query failed: ${expr}: ${body.error}`);
      const r = body.data!.result;
      return body.data!.resultType === 'vector' ? r : [{ metric: {}, value: r }];
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}
