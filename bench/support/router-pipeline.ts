import { RoutingPipeline } from '../../src/core/pipeline.js';
import type { Pipeline } from '../../src/core/types.js';
import { Datastore } from '../../src/datastore/datastore.js';
import { parseResource } from '../../src/resources/parse.js';
import type { Resource } from '../../src/resources/types.js';
import { DEFAULT_SCHEDULER } from '../../src/scheduler/config.js';
import { Scheduler } from '../../src/scheduler/scheduler.js';

/**
 * The real routing pipeline (route match, default scheduler, model rewrite, exchange bookkeeping) over a datastore of
 * `podCount` ready pods with fresh, varied engine metrics, as the metrics fetcher would leave them.
 */
export function createBenchPipeline(podCount: number): Pipeline {
  const objects: unknown[] = [
    {
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelServer',
      metadata: { name: 'bench', namespace: 'default' },
      spec: {
        model: 'meta-llama/Llama-3.1-8B-Instruct',
        inferenceEngine: 'vLLM',
        workloadSelector: { matchLabels: { app: 'bench' } },
        workloadPort: { port: 8000 },
      },
    },
    {
      apiVersion: 'networking.serving.volcano.sh/v1alpha1',
      kind: 'ModelRoute',
      metadata: { name: 'bench', namespace: 'default' },
      spec: { modelName: 'bench-model', rules: [{ targetModels: [{ modelServerName: 'bench' }] }] },
    },
  ];
  for (let i = 0; i < podCount; i++) {
    objects.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `bench-${i}`, namespace: 'default', labels: { app: 'bench' } },
      status: {
        podIP: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
        conditions: [{ type: 'Ready', status: 'True' }],
      },
    });
  }
  const datastore = new Datastore();
  datastore.sinkFor('bench').replace(['Pod', 'ModelServer', 'ModelRoute'], objects.map((o) => parseResource(o) as Resource));
  let i = 0;
  for (const ep of datastore.allEndpoints()) {
    i++;
    ep.state = {
      metrics: {
        running: i % 17,
        waiting: i % 3,
        kvCacheUsage: (i % 10) / 10,
        ttftSeconds: 0.05 + (i % 7) / 100,
        tpotSeconds: 0.01 + (i % 5) / 1000,
        runningLoras: [],
        waitingLoras: [],
      },
      updatedAt: Date.now(),
      stale: false,
    };
  }
  return new RoutingPipeline({
    datastore,
    scheduler: new Scheduler(DEFAULT_SCHEDULER),
    maxBodyBytes: 8 * 1024 * 1024,
  });
}
