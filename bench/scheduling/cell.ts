import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateSelfSignedCert } from '../../src/frontends/extproc/self-signed-cert.js';
import { FakeProvider } from '../../test/integration/providers/fake-providers.js';
import { generateRequests } from '../loadgen/index.js';
import { summarize } from '../loadgen/stats.js';
import { cpuBetween, sampleCpu, type CpuUsage } from './cpu.js';
import { readCounters, subtract, ZERO_COUNTERS, type EngineCounters } from './engine-counters.js';
import { startFleet, writeResources, type FleetSpec } from './fleet.js';
import { replay, type Replay } from './open-loop.js';
import type { Policy } from './policies.js';
import type { Entries } from './entries.js';
import { startRouter, type RouterHandle } from './router.js';
import type { BenchWorkload } from './workloads.js';

// One (workload, policy) cell: a fresh fleet (cold caches, same seeds) and a fresh router with the policy's config,
// the workload's request sequence replayed open loop through the router's proxy, engine counters before and after.
// Times are reported in modelled (simulated GPU) time: wall time divided by the workload's time scale.

/** What a table row shows, for a run cell and for the computed ideal bound alike. */
export interface RowMetrics {
  workload: string;
  policy: string;
  requests: number;
  completed: number;
  /** Modelled requests/s and output tokens/s, from the start of the replay to the last completion. */
  throughput: number;
  outputTokensPerSecond: number;
  /** Modelled milliseconds. */
  ttftP50: number;
  ttftP99: number;
  e2eP50: number;
  e2eP99: number;
  /** Prefix-cache hits / queries over the fleet, in tokens (engine counters). */
  prefixHitRate: number;
}

export interface CellResult extends RowMetrics {
  /** Requests refused (any error) or whose first token came more than 1 s (modelled) after they were sent. */
  rejectedOrLate?: number;
  /** Requests the external provider stand-in received (workloads with a provider target). */
  providerRequests?: number;
  errors: Record<string, number>;
  /** Per instance: engine counter deltas. */
  perInstance: Array<{ address: string; speed: number } & EngineCounters>;
  wallSeconds: number;
  cpu: CpuUsage;
}

const SETTLE_MS = 750;

export interface CellOptions {
  workload: BenchWorkload;
  policy: Policy;
  fleet: Omit<FleetSpec, 'timeScale'>;
  seed: number;
  entries: Entries;
}

export async function runCell(o: CellOptions): Promise<CellResult> {
  const ts = o.workload.timeScale;
  const requests = generateRequests(o.workload.workload, o.seed, o.workload.requests);
  const fleetSpec = {
    ...o.fleet,
    timeScale: ts,
    kvBlocks: o.workload.kvBlocks ?? o.fleet.kvBlocks,
    kvEvents: o.policy.kvEvents === true,
  };
  const provider = o.workload.provider ? await startProvider() : undefined;
  if (provider) Object.assign(fleetSpec, { provider: { origin: provider.fake.origin(), apiKey: PROVIDER_KEY } });
  const resources = await writeResources(fleetSpec);
  // The provider stand-in's certificate is self-signed: the router trusts it through providers.caFile.
  const configPath = provider ? join(resources.dir, 'router-config.yaml') : o.policy.configPath;
  if (provider) {
    await writeFile(join(resources.dir, 'ca.pem'), provider.ca);
    await writeFile(configPath, `${await readFile(o.policy.configPath, 'utf8')}\nproviders: {caFile: ${join(resources.dir, 'ca.pem')}}\n`);
  }
  // Engines and routers start side by side; a router retries its scrapes until the engines answer.
  const replicas = o.workload.replicas ?? 1;
  const [fleetStart, ...routerStarts] = await Promise.allSettled([
    startFleet(fleetSpec, o.entries.sim),
    ...Array.from({ length: replicas }, () => startRouter(o.entries.router, configPath, resources.dir)),
  ]);
  const fleet = fleetStart.status === 'fulfilled' ? fleetStart.value : undefined;
  const routers = routerStarts.flatMap((r) => (r.status === 'fulfilled' ? [r.value as RouterHandle] : []));
  try {
    const failed = [fleetStart, ...routerStarts].find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!fleet || failed) throw failed?.reason;
    // Let the routers scrape every engine (at least twice), so load-aware policies start informed.
    await sleep(SETTLE_MS);
    // CPU of the first router (a replica's is alike) and of the engines.
    const sample = () => sampleCpu(routers[0]!.child.pid!, fleet.sims.map((s) => s.child.pid!));
    const before = await Promise.all(fleet.sims.map((s) => readCounters(s.url)));
    const cpu0 = await sample();
    const restart = o.workload.restart;
    const event = restart && {
      index: Math.floor(restart.atShare * requests.length),
      run: async () => {
        // The restarted engine's counters start over: count what it did before as if read at the start.
        const lost = await readCounters(fleet.sims[restart.instance]!.url);
        before[restart.instance] = subtract(before[restart.instance]!, lost);
        await fleet.restart(restart.instance);
      },
    };
    const run = await replay({
      urls: routers.map((r) => r.url),
      requests,
      rate: o.workload.rate / ts,
      burstiness: o.workload.burstiness,
      seed: o.seed,
      timeoutMs: 600_000,
      event,
    });
    const cpu = cpuBetween(cpu0, await sample());
    const after = await Promise.all(fleet.sims.map((s) => readCounters(s.url).catch(() => ZERO_COUNTERS)));
    const perInstance = fleet.sims.map((s, i) => ({ address: s.address, speed: s.speed, ...subtract(after[i]!, before[i]!) }));
    const result = summarise(o, run, perInstance, cpu);
    return provider ? { ...result, providerRequests: provider.fake.received.length } : result;
  } finally {
    await Promise.all([...routers.map((r) => r.stop()), fleet?.stop(), provider?.fake.close()]);
    await resources.remove();
  }
}

const PROVIDER_KEY = 'sk-bench-provider';

/** An HTTPS server answering like OpenAI's chat completions API, on loopback with a self-signed certificate. */
async function startProvider(): Promise<{ fake: FakeProvider; ca: string }> {
  const cert = generateSelfSignedCert({ altNames: ['127.0.0.1', 'localhost'] });
  return { fake: await FakeProvider.start('openai', cert, PROVIDER_KEY), ca: cert.cert };
}

function summarise(o: CellOptions, { results, wallMs }: Replay, perInstance: CellResult['perInstance'], cpu: CpuUsage): CellResult {
  const ts = o.workload.timeScale;
  const ok = results.filter((r) => r.ok);
  const errors: Record<string, number> = {};
  for (const r of results) if (!r.ok) errors[r.error ?? 'unknown'] = (errors[r.error ?? 'unknown'] ?? 0) + 1;
  const ttft = summarize(ok.flatMap((r) => (r.ttftMs === undefined ? [] : [r.ttftMs / ts])));
  const rejectedOrLate = results.filter((r) => !r.ok || (r.ttftMs !== undefined && r.ttftMs / ts > 1000)).length;
  const e2e = summarize(ok.map((r) => r.e2eMs / ts));
  const modelledSeconds = wallMs / 1000 / ts;
  const hits = perInstance.reduce((n, p) => n + p.prefixHits, 0);
  const queries = perInstance.reduce((n, p) => n + p.prefixQueries, 0);
  return {
    workload: o.workload.name,
    policy: o.policy.name,
    requests: results.length,
    completed: ok.length,
    errors,
    throughput: ok.length / modelledSeconds,
    outputTokensPerSecond: ok.reduce((n, r) => n + r.outputTokens, 0) / modelledSeconds,
    ttftP50: ttft.p50,
    ttftP99: ttft.p99,
    e2eP50: e2e.p50,
    e2eP99: e2e.p99,
    prefixHitRate: queries > 0 ? hits / queries : 0,
    rejectedOrLate,
    perInstance,
    wallSeconds: wallMs / 1000,
    cpu,
  };
}
