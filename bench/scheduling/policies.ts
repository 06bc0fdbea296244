import { fileURLToPath } from 'node:url';

// Routing policies under test: each is a router configuration file, bench/configs/<name>.yaml.

export interface Policy {
  name: string;
  configPath: string;
  /** One line for the report. */
  description: string;
}

const policy = (name: string, description: string): Policy => ({
  name,
  configPath: fileURLToPath(new URL(`../configs/${name}.yaml`, import.meta.url)),
  description,
});

export const POLICIES: Policy[] = [
  policy('random', 'a uniformly random pod'),
  policy('round-robin', 'pods in turn'),
  policy('least-request', 'fewest running + waiting requests'),
  policy('kthena-default', "Kthena's default: filter least-request; score least-request + least-latency + prefix-cache"),
  policy('ours', 'prefix-load (prefix affinity, load and GPU speed in one cost) + lora-affinity (filter and score)'),
];
