import { parseWorkload, type Workload } from '../loadgen/index.js';
import { ROUTE_MODEL } from './fleet.js';

// The benchmark's workloads: the shapes of bench/workloads/*.yaml, scaled so that the whole matrix runs in minutes
// on two cores. Rates are in modelled requests per second (simulated GPU time); the runner divides by the workload's
// time scale to get wall-clock rates. Each time scale keeps the host's CPU well below saturation for that workload:
// long prompts cost CPU per request (JSON, tokenizing, hashing), short ones per streamed token.

export interface BenchWorkload {
  name: string;
  /** One line for the report. */
  description: string;
  workload: Workload;
  requests: number;
  /** Offered load, modelled requests/s. */
  rate: number;
  /** Gamma shape of the inter-arrival gaps (1 = Poisson). */
  burstiness: number;
  /** Simulator --time-scale for this workload: wall time per modelled time. */
  timeScale: number;
  /** KV blocks per engine, when the workload needs other than the fleet's (cache pressure). */
  kvBlocks?: number;
  /** Restart this instance (cold cache, same address) once this share of the requests has been sent. */
  restart?: { instance: number; atShare: number };
  /** Router replicas sharing the fleet; requests alternate between them. */
  replicas?: number;
  /** Only these policies run on it (default: every policy not dedicated to other workloads). */
  policies?: string[];
  /** The route also targets an external provider (an HTTPS stand-in for OpenAI on loopback), at weight 0. */
  provider?: boolean;
}

export const LORA_ADAPTERS = Array.from({ length: 8 }, (_, i) => `adapter-${i}`);

const doc = (o: Record<string, unknown>) => parseWorkload({ api: 'chat', stream: true, models: ROUTE_MODEL, ...o }, String(o.name));

// Where the router's own record of where prompts went (its approximate prefix index) goes wrong: the engines evict,
// restart or get work from another router replica.
const GROUPS_OF_SHARED_PREFIX = (name: string, groups: number) =>
  doc({
    name,
    maxTokens: { median: 48, sigma: 0.3, min: 16, max: 96 },
    classes: [{ type: 'shared-prefix', name: 'shared-prefix', groups, systemPromptWords: 1500, questionWords: 64 }],
  });

export const WORKLOADS: BenchWorkload[] = [
  {
    name: 'long-system-prompt',
    description:
      "Kthena's shape: groups of requests sharing a 4,096-word system prompt, each with its own 128-word question " +
      '(32 groups here; Kthena: 256 groups × 32 requests on 3 GPUs).',
    workload: doc({
      name: 'long-system-prompt',
      maxTokens: { median: 64, sigma: 0.3, min: 16, max: 128 },
      classes: [{ type: 'shared-prefix', name: 'shared-prefix', groups: 32, systemPromptWords: 4096, questionWords: 128 }],
    }),
    requests: 400,
    rate: 60,
    burstiness: 1,
    timeScale: 2,
  },
  {
    name: 'short-prompt',
    description: 'Independent short chat prompts (20–100 words) with short answers (16–64 tokens): no prefix to exploit.',
    workload: doc({
      name: 'short-prompt',
      maxTokens: { min: 16, max: 64 },
      classes: [{ type: 'single', name: 'short', promptWords: { min: 20, max: 100 } }],
    }),
    requests: 600,
    rate: 200,
    burstiness: 1,
    timeScale: 5,
  },
  {
    name: 'multi-turn',
    description: 'Chat sessions of up to 8 turns, 24 running at a time; every turn resends the whole history.',
    workload: doc({
      name: 'multi-turn',
      maxTokens: { median: 64, sigma: 0.5, min: 16, max: 160 },
      classes: [
        { type: 'multi-turn', name: 'multi-turn', conversations: 24, turns: 8, systemPromptWords: 300, userWords: { min: 30, max: 120 } },
      ],
    }),
    requests: 400,
    rate: 50,
    burstiness: 1,
    timeScale: 1.5,
  },
  {
    name: 'lora-mix',
    description: `The base model and ${LORA_ADAPTERS.length} LoRA adapters (80% of requests), 2 adapter slots per GPU.`,
    workload: doc({
      name: 'lora-mix',
      models: [{ name: ROUTE_MODEL, weight: 2 }, ...LORA_ADAPTERS.map((name) => ({ name, weight: 1 }))],
      maxTokens: { min: 16, max: 96 },
      classes: [{ type: 'single', name: 'single', promptWords: { min: 50, max: 400 } }],
    }),
    requests: 300,
    rate: 50,
    burstiness: 1,
    timeScale: 1.5,
  },
  {
    name: 'bursty',
    description: 'Short (20–200 words) and long (2,000–6,000 words) prompts 4:1, arriving in bursts (Gamma gaps, shape 0.25).',
    workload: doc({
      name: 'bursty',
      maxTokens: { median: 64, sigma: 0.6, min: 8, max: 160 },
      classes: [
        { type: 'single', name: 'short', weight: 4, promptWords: { min: 20, max: 200 } },
        { type: 'single', name: 'long', weight: 1, promptWords: { min: 2000, max: 6000 } },
      ],
    }),
    requests: 300,
    rate: 30,
    burstiness: 0.25,
    timeScale: 1.5,
  },
  {
    name: 'cache-pressure',
    description:
      '64 groups sharing a 1,500-word system prompt on engines with a small KV cache (600 blocks of 16 tokens, about ' +
      'five prompts each): the engines evict, the approximate index does not know.',
    workload: GROUPS_OF_SHARED_PREFIX('cache-pressure', 64),
    requests: 400,
    rate: 40,
    burstiness: 1,
    timeScale: 2,
    kvBlocks: 600,
  },
  {
    name: 'pod-restart',
    description: '24 groups sharing a 1,500-word system prompt; engine 0 restarts with a cold cache after 40% of the requests.',
    workload: GROUPS_OF_SHARED_PREFIX('pod-restart', 24),
    requests: 400,
    rate: 40,
    burstiness: 1,
    timeScale: 2,
    restart: { instance: 0, atShare: 0.4 },
  },
  {
    name: 'two-replicas',
    description: '24 groups sharing a 1,500-word system prompt, sent alternately through two router replicas sharing the fleet.',
    workload: GROUPS_OF_SHARED_PREFIX('two-replicas', 24),
    requests: 400,
    rate: 40,
    burstiness: 1,
    timeScale: 2,
    replicas: 2,
  },
  {
    name: 'spill-burst',
    description:
      'A saturating burst of short chat prompts (Gamma gaps shape 0.25) on engines with a small KV cache (300 blocks: ' +
      'about ten running requests each) and a route that also targets a provider: flow control queueing alone ' +
      '(spill-off) against spill-over to the provider (spill-on).',
    workload: doc({
      name: 'spill-burst',
      maxTokens: { min: 64, max: 160 },
      classes: [{ type: 'single', name: 'short', promptWords: { min: 50, max: 300 } }],
    }),
    requests: 600,
    rate: 300,
    burstiness: 0.25,
    timeScale: 2,
    kvBlocks: 300,
    policies: ['spill-off', 'spill-on'],
    provider: true,
  },
];
