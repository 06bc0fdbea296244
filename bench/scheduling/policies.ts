import { fileURLToPath } from 'node:url';

// Routing policies under test: each is a router configuration file, bench/configs/<name>.yaml.

export interface Policy {
  name: string;
  configPath: string;
  /** One line for the report. */
  description: string;
  /** The fleet publishes vLLM KV-cache events for this policy (they cost the engines some CPU). */
  kvEvents?: boolean;
}

const policy = (name: string, description: string, kvEvents = false): Policy => ({
  name,
  configPath: fileURLToPath(new URL(`../configs/${name}.yaml`, import.meta.url)),
  description,
  kvEvents,
});

export const POLICIES: Policy[] = [
  policy('random', 'a uniformly random pod'),
  policy('round-robin', 'pods in turn'),
  policy('least-request', 'fewest running + waiting requests'),
  policy('kthena-default', "Kthena's default: filter least-request; score least-request + least-latency + prefix-cache"),
  policy('ours', 'prefix-load (prefix affinity, load and GPU speed in one cost) + lora-affinity (filter and score)'),
  policy('precise', "ours, with prefix credit from the engines' KV-cache events (prefix-load matcher: precise)", true),
];
