#!/usr/bin/env node
// `npm start`: the embedded default. Starts a simulated engine for every Pod in examples/demo (address, port, engine,
// model and LoRA adapters taken from the same resources the router reads), then the router with both front doors.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { CliError, parseCli, USAGE } from '../cli.js';
import { ConfigError, loadConfig } from '../config/config.js';
import { ListenError, listening } from '../frontends/listen-error.js';
import { matchesLabels } from '../datastore/labels.js';
import { parseResource, ResourceError } from '../resources/parse.js';
import type { ModelRouteResource, ModelServerResource, PodResource, Resource } from '../resources/types.js';
import { setLogFormat } from '../observability/logger.js';
import { startRouter } from '../router.js';
import { startSimulator, type SimulatorHandle } from '../sim/index.js';
import { packageVersion } from '../version.js';

const DEMO_DIR = fileURLToPath(new URL('../../examples/demo', import.meta.url));
/** Outside DEMO_DIR, which holds resources only: the router reads every YAML file there as resources. */
const DEMO_CONFIG = fileURLToPath(new URL('../../examples/router-config.yaml', import.meta.url));

/** Relative GPU speed by the demo pods' `gpu` label: shows the router coping with heterogeneous hardware. */
const GPU_SPEED: Record<string, number> = { a100: 1, l4: 0.5 };

async function loadDemoResources(dir: string): Promise<Resource[]> {
  const out: Resource[] = [];
  const names = await readdir(dir).catch((err: Error) => {
    throw new ResourceError(`--resources ${dir}: ${err.message}`);
  });
  for (const name of names.filter((n) => n.endsWith('.yaml')).sort()) {
    for (const doc of parseAllDocuments(await readFile(join(dir, name), 'utf8'))) {
      if (doc.errors.length > 0) throw new ResourceError(`--resources ${join(dir, name)}: invalid YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
      const r = parseResource(doc.toJS());
      if (r) out.push(r);
    }
  }
  return out;
}

async function startFleet(resources: Resource[]): Promise<SimulatorHandle[]> {
  const servers = resources.filter((r): r is ModelServerResource => r.kind === 'ModelServer');
  const routes = resources.filter((r): r is ModelRouteResource => r.kind === 'ModelRoute');
  const pods = resources.filter((r): r is PodResource => r.kind === 'Pod' && r.podIP !== undefined);
  const sims: SimulatorHandle[] = [];
  for (const pod of pods) {
    const server = servers.find((s) => matchesLabels(pod.metadata.labels, s.spec.workloadSelector.matchLabels));
    if (!server) continue;
    const loras = routes
      .filter((r) => r.spec.rules.some((rule) => rule.targetModels.some((t) => t.modelServerName === server.metadata.name)))
      .flatMap((r) => r.spec.loraAdapters);
    const [host, port] = [pod.podIP!, server.spec.workloadPort.port];
    const start = () =>
      startSimulator({
        host,
        port,
        model: server.spec.model ?? server.metadata.name,
        engine: server.spec.inferenceEngine.toLowerCase() === 'sglang' ? 'sglang' : 'vllm',
        loras,
        maxLoras: Math.max(1, loras.length),
        speed: GPU_SPEED[pod.metadata.labels.gpu ?? ''] ?? 1,
        seed: sims.length + 1,
      });
    const where = `Pod ${pod.metadata.name}'s podIP, ModelServer ${server.metadata.name}'s workloadPort`;
    try {
      sims.push(await listening(`the simulated engine of ${pod.metadata.name}`, where, host, port, start));
    } catch (err) {
      await Promise.all(sims.map((sim) => sim.close()));
      throw err;
    }
  }
  return sims;
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  if (cli === 'help') {
    process.stdout.write(`npm start -- [router options]: the router on the embedded demo fleet.\n\n${USAGE}`);
    return;
  }
  if (cli === 'version') {
    process.stdout.write(`kthena-router ${packageVersion()}\n`);
    return;
  }
  if (cli.logFormat) setLogFormat(cli.logFormat);
  const resourcesPaths = cli.resources.length > 0 ? cli.resources : [DEMO_DIR];
  const resources = (await Promise.all(resourcesPaths.map(loadDemoResources))).flat();
  const sims = await startFleet(resources);
  const config = await loadConfig(cli.config ?? DEMO_CONFIG);
  const router = await startRouter({
    config,
    resources: resourcesPaths,
    host: cli.host === '0.0.0.0' ? '127.0.0.1' : cli.host,
    grpcPort: cli.grpcPort,
    healthPort: cli.healthPort,
    httpPort: cli.httpPort,
    metricsPort: cli.metricsPort,
  });
  const models = [...new Set(resources.flatMap((r) => (r.kind === 'ModelRoute' ? [r.spec.modelName, ...r.spec.loraAdapters] : [])))];
  const http = router.ports.http;
  process.stdout.write(
    [
      '',
      `kthena-router demo: ${sims.length} simulated engines (${sims.map((s) => `${s.options.engine}@${s.host}:${s.port}`).join(', ')})`,
      http ? `  OpenAI-compatible proxy   http://127.0.0.1:${http}/v1  (models: ${models.filter(Boolean).join(', ')})` : '',
      `  Envoy ext_proc            127.0.0.1:${router.ports.grpc}`,
      router.ports.metrics ? `  metrics / readiness       http://127.0.0.1:${router.ports.metrics}/metrics  /readyz` : '',
      '',
      'Try:',
      `  curl -s http://127.0.0.1:${http ?? 8080}/v1/chat/completions -H 'content-type: application/json' \\`,
      `    -d '{"model":"llama","messages":[{"role":"user","content":"Hello!"}]}'`,
      '',
      `Resources: ${resourcesPaths.join(', ')} (edit them while this runs). Ctrl-C stops.`,
      '',
    ]
      .filter((l, i, all) => l !== '' || all[i - 1] !== '')
      .join('\n') + '\n',
  );
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await router.stop(2000);
    await Promise.all(sims.map((s) => s.close()));
    process.exit(0);
  };
  process.on('SIGINT', () => void stop());
  process.on('SIGTERM', () => void stop());
}

main().catch((err) => {
  const known = err instanceof CliError || err instanceof ConfigError || err instanceof ListenError || err instanceof ResourceError;
  process.stderr.write(`kthena demo: ${known ? err.message : (err as Error).stack ?? String(err)}\n`);
  process.exit(2);
});
