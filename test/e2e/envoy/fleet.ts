import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// The model fleet the load and availability tests put behind Envoy: simulators that answer at once
// (--time-scale 0) with a few tokens, and the resource files that describe them to the router.

export const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';

export interface SimFleet {
  dir: string;
  sims: SimProcess[];
  stop(): Promise<void>;
}

export async function startSimFleet(ips: string[], port: number): Promise<SimFleet> {
  const dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-load-'));
  await writeFile(join(dir, 'fleet.yaml'), documents(
    modelServerYaml('llama', { port, model: MODEL }),
    modelRouteYaml('llama', 'llama'),
    ...ips.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
  ));
  const sims = await Promise.all(ips.map((ip) => startSimProcess(ip, port, ['--time-scale', '0', '--max-tokens-cap', '4', '--model', MODEL])));
  return {
    dir,
    sims,
    async stop() {
      await Promise.all(sims.map((s) => s.kill()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export const chat = (i: number) => ({ model: 'llama', messages: [{ role: 'user', content: `hello ${i}` }], max_tokens: 4 });

/** The router's counter `kthena_router_extproc_stream_failures_total`, summed over reasons (0 when absent). */
export async function streamFailures(metricsPort: number): Promise<{ total: number; text: string }> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const lines = text.split('\n').filter((l) => l.startsWith('kthena_router_extproc_stream_failures_total'));
  return { total: lines.reduce((n, l) => n + Number(l.split(' ').at(-1)), 0), text: lines.join('\n') };
}
