import { fileURLToPath } from 'node:url';

// Routing policies under test: each is a router configuration file, bench/configs/<name>.yaml.

export interface Policy {
  name: string;
  configPath: string;
  /** One line for the report. */
  description: string;
  /** The fleet publishes vLLM KV-cache events for this policy (they cost the engines some CPU). */
  kvEvents?: boolean;
  /** Runs only on workloads that name it (their `policies`), not across the matrix. */
  dedicated?: boolean;
}

const policy = (name: string, description: string, o: Pick<Policy, 'kvEvents' | 'dedicated'> = {}): Policy => ({
  name,
  configPath: fileURLToPath(new URL(`../configs/${name}.yaml`, import.meta.url)),
  description,
  ...o,
});

export const POLICIES: Policy[] = [
  policy('random', 'a uniformly random pod'),
  policy('round-robin', 'pods in turn'),
  policy('least-request', 'fewest running + waiting requests'),
  policy('kthena-default', "Kthena's default: filter least-request; score least-request + least-latency + prefix-cache"),
  policy('ours', 'prefix-load (prefix affinity, load and GPU speed in one cost) + lora-affinity (filter and score)'),
  policy('precise', "ours, with prefix credit from the engines' KV-cache events (prefix-load matcher: precise)", { kvEvents: true }),
  policy('spill-off', 'ours with flow control queueing (held up to 3 s while every pod is saturated, then 429); provider at weight 0', { dedicated: true }),
  policy('spill-on', 'spill-off plus spill-over: the provider takes the overflow while every pod is saturated', { dedicated: true }),
];

/** Whether a cell (workload × policy) belongs to the matrix: a workload may name its policies, a dedicated policy its workloads. */
export function runs(workload: { policies?: string[] }, p: Policy): boolean {
  return workload.policies ? workload.policies.includes(p.name) : !p.dedicated;
}
