// A router (pipeline + proxy) with external providers next to a local ModelServer, for the provider tests.
import { createServer as createHttpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RateLimitFilter } from '../../../src/core/filters.js';
import { RoutingPipeline } from '../../../src/core/pipeline.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { registry } from '../../../src/observability/metrics.js';
import { OutlierDetector } from '../../../src/providers/outlier-detector.js';
import { defaultProviderSettings, type ProviderSettings } from '../../../src/providers/settings.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../../src/scheduler/config.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import { mr, ms, pod, seeded } from '../../support/builders.js';

export const OPENAI_KEY = 'sk-provider-openai-secret';
export const ANTHROPIC_KEY = 'sk-ant-provider-secret';

const KTHENA = 'networking.serving.volcano.sh/v1alpha1';

export const secret = (name: string, value: string) => ({
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name, namespace: 'default' },
  stringData: { apiKey: value },
});

export const provider = (name: string, spec: Record<string, unknown>) => ({
  apiVersion: KTHENA,
  kind: 'ExternalModelProvider',
  metadata: { name, namespace: 'default' },
  spec,
});

export interface ProviderOrigins {
  openai: string;
  anthropic: string;
}

/** Providers, their Secrets, routes to each, and the `mixed` route: local pods first, the OpenAI provider as fallback. */
export function resources(origins: ProviderOrigins, podIps: string[], podPort: number): unknown[] {
  return [
    secret('openai-key', OPENAI_KEY),
    secret('anthropic-key', ANTHROPIC_KEY),
    provider('openai', {
      providerType: 'OpenAI',
      model: 'gpt-4o-mini',
      baseURL: `${origins.openai}/v1`,
      auth: { scheme: 'Bearer', secretRef: { name: 'openai-key', key: 'apiKey' } },
    }),
    provider('claude', {
      providerType: 'Anthropic',
      model: 'claude-sonnet-4-5',
      baseURL: origins.anthropic,
      auth: { scheme: 'APIKey', secretRef: { name: 'anthropic-key', key: 'apiKey' } },
      headers: { 'anthropic-beta': 'router-test' },
    }),
    mr('gpt', { modelName: 'gpt', rules: [{ targetModels: [{ externalModelProviderName: 'openai' }] }] }),
    mr('claude', { modelName: 'claude', rules: [{ targetModels: [{ externalModelProviderName: 'claude' }] }] }),
    ms('local', { model: 'local-llama', inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'local' } }, workloadPort: { port: podPort } }),
    mr('mixed', {
      modelName: 'mixed',
      rules: [{ targetModels: [{ modelServerName: 'local', weight: 100 }, { externalModelProviderName: 'openai', weight: 0 }] }],
    }),
    ...podIps.map((ip, i) => pod(`local-${i}`, ip, { app: 'local' })),
  ];
}

export function loadInto(ds: Datastore, objects: unknown[]): void {
  ds.sinkFor('test').replace(
    ['Pod', 'ModelServer', 'ModelRoute', 'ExternalModelProvider', 'Secret'],
    objects.map((o) => parseResource(o) as Resource),
  );
}

/** Records what the pipeline charges: output tokens committed per model. */
export class TokenLedger implements RateLimitFilter {
  readonly committed: Array<{ model: string; tokens: number }> = [];

  async reserve(req: { model: string }) {
    return {
      ok: true as const,
      headers: {},
      reservation: {
        commit: (tokens: number) => this.committed.push({ model: req.model, tokens }),
        release: () => undefined,
      },
    };
  }
}

export interface RouterParts {
  datastore: Datastore;
  pipeline: RoutingPipeline;
  outlier: OutlierDetector;
  ledger: TokenLedger;
}

export function routerParts(settings: Partial<ProviderSettings>, outlier = new OutlierDetector({ enabled: true, consecutiveFailures: 2, baseEjectionMs: 400, maxEjectionMs: 5000 })): RouterParts {
  const datastore = new Datastore();
  const ledger = new TokenLedger();
  const base = defaultProviderSettings();
  const pipeline = new RoutingPipeline({
    datastore,
    scheduler: new Scheduler(DEFAULT_SCHEDULER, seeded(11)),
    maxBodyBytes: 1 << 20,
    random: seeded(13),
    rateLimit: ledger,
    providers: { ...base, retry: { attempts: 2, intervalMs: 20, maxIntervalMs: 200 }, timeoutMs: 5000, ...settings },
    outlier,
  });
  return { datastore, pipeline, outlier, ledger };
}

/** A local engine answering chat completions over plain HTTP, echoing the model it was sent. */
export async function startPod(ip: string, port: number): Promise<Server> {
  const server = createHttpServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      const model = JSON.parse(Buffer.concat(parts).toString()).model;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ id: 'local', object: 'chat.completion', model, choices: [{ index: 0, message: { role: 'assistant', content: 'local answer' }, finish_reason: 'stop' }], usage: { prompt_tokens: 3, completion_tokens: 2, total_tokens: 5 } }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, ip, () => resolve());
  });
  return server;
}

/** A port with nothing listening on `ip` (taken and released). */
export async function closedPort(ip: string): Promise<number> {
  const s = createHttpServer();
  await new Promise<void>((resolve) => s.listen(0, ip, () => resolve()));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

export async function metricValue(name: string, labels: Record<string, string>): Promise<number> {
  const metric = registry.getSingleMetric(name);
  if (!metric) return 0;
  const { values } = await metric.get();
  const hit = values.find((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val));
  return hit?.value ?? 0;
}
