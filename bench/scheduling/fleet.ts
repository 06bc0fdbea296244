import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { track } from './children.js';
import { ROOT } from './entries.js';

// The simulated fleet: one model on N simulator processes, each on its own loopback address (127.0.77.x, same port,
// as pods of one ModelServer), the last `slow` of them on a slower GPU. Resources for the router are written to a
// temporary directory: Pods, one ModelServer, one ModelRoute that also claims the LoRA adapters. Each pod carries its
// GPU's relative speed in the label kthena.io/gpu-capacity, as an operator would label mixed hardware; policies that
// do not read it are unaffected.

export const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
export const ROUTE_MODEL = 'llama';

export interface FleetSpec {
  instances: number;
  /** How many instances (the last ones) run on the slower GPU. */
  slow: number;
  slowSpeed: number;
  timeScale: number;
  kvBlocks: number;
  loras: string[];
  maxLoras: number;
  /** Loopback port every instance listens on. */
  port: number;
  /** Publish vLLM KV-cache events (PUB on 5557, replay on 5558, each instance on its own address). */
  kvEvents?: boolean;
  /** An ExternalModelProvider (OpenAI-compatible, base URL `origin`/v1) as a weight-0 target of the route. */
  provider?: { origin: string; apiKey: string };
}

export interface SimInstance {
  address: string;
  url: string;
  speed: number;
  child: ChildProcess;
}

export interface Fleet {
  sims: SimInstance[];
  /** Kills instance i and starts it again: same address and flags, an empty cache (a pod restart). */
  restart(i: number): Promise<void>;
  stop(): Promise<void>;
}

export const hostOf = (i: number) => `127.0.77.${i + 1}`;
export const speedOf = (spec: FleetSpec, i: number) => (i >= spec.instances - spec.slow ? spec.slowSpeed : 1);

/** Writes the router's resources for the fleet (pods, ModelServer, ModelRoute) to a new temporary directory. */
export async function writeResources(spec: FleetSpec): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'kthena-bench-sched-'));
  await writeFile(join(dir, 'fleet.yaml'), resourcesYaml(spec));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Starts every instance with cold caches; instance i always gets seed i + 1. */
export async function startFleet(spec: FleetSpec, entry: string[]): Promise<Fleet> {
  const started = await Promise.allSettled(Array.from({ length: spec.instances }, (_, i) => startInstance(spec, entry, i)));
  const sims = started.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  const stop = async () => {
    await Promise.all(sims.map(killInstance));
  };
  const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) {
    await stop();
    throw failed.reason;
  }
  const restart = async (i: number) => {
    await killInstance(sims[i]!);
    sims[i] = await startInstance(spec, entry, i);
  };
  return { sims, restart, stop };
}

const KV_EVENTS = JSON.stringify({ enable_kv_cache_events: true, publisher: 'zmq', endpoint: 'tcp://*:5557', replay_endpoint: 'tcp://*:5558' });

function startInstance(spec: FleetSpec, entry: string[], i: number): Promise<SimInstance> {
  const host = hostOf(i);
  const speed = speedOf(spec, i);
  const args = [
    ...entry, '--host', host, '--port', String(spec.port), '--model', MODEL, '--seed', String(i + 1),
    '--speed', String(speed), '--time-scale', String(spec.timeScale), '--kv-blocks', String(spec.kvBlocks),
    ...(spec.loras.length > 0 ? ['--lora', spec.loras.join(','), '--max-loras', String(spec.maxLoras)] : []),
    ...(spec.kvEvents ? ['--kv-events-config', KV_EVENTS] : []),
  ];
  const child = track(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }));
  const address = `${host}:${spec.port}`;
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`simulator ${address} did not start in 30 s: ${out}`)), 30_000);
    const fail = (err: Error) => {
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(err);
    };
    const onData = (d: Buffer) => {
      out += d;
      if (!out.includes('kthena-sim listening')) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      child.stderr!.off('data', onData);
      // Keep draining the pipes so a chatty process never blocks on a full pipe.
      child.stdout!.resume();
      child.stderr!.resume();
      resolve({ address, url: `http://${address}`, speed, child });
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => fail(new Error(`simulator ${address} exited with ${code}: ${out.trim()}`)));
  });
}

async function killInstance(s: SimInstance): Promise<void> {
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const exited = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const timer = setTimeout(() => s.child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

function resourcesYaml(spec: FleetSpec): string {
  const pods = Array.from(
    { length: spec.instances },
    (_, i) => `---
apiVersion: v1
kind: Pod
metadata:
  name: llama-${i}
  labels: {app: bench-llama, kthena.io/gpu-capacity: "${speedOf(spec, i)}"}
status: {podIP: ${hostOf(i)}, conditions: [{type: Ready, status: "True"}]}
`,
  );
  const loras = spec.loras.length > 0 ? `\n  loraAdapters: [${spec.loras.join(', ')}]` : '';
  const p = spec.provider;
  const providerTarget = p ? ', {externalModelProviderName: bench-provider, weight: 0}' : '';
  const provider = p
    ? `apiVersion: v1
kind: Secret
metadata: {name: bench-provider-key}
stringData: {apiKey: ${p.apiKey}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ExternalModelProvider
metadata: {name: bench-provider}
spec:
  providerType: OpenAI
  model: gpt-4o-mini
  baseURL: ${p.origin}/v1
  auth: {scheme: Bearer, secretRef: {name: bench-provider-key, key: apiKey}}
---
`
    : '';
  return `${provider}apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata: {name: bench-llama}
spec:
  model: ${MODEL}
  inferenceEngine: vLLM
  workloadSelector: {matchLabels: {app: bench-llama}}
  workloadPort: {port: ${spec.port}}
---
apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelRoute
metadata: {name: bench-llama}
spec:
  modelName: ${ROUTE_MODEL}${loras}
  rules: [{targetModels: [{modelServerName: bench-llama}${providerTarget}]}]
${pods.join('')}`;
}
