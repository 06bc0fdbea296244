import type { Outcome } from '../core/types.js';
import type { Endpoint } from '../datastore/endpoint.js';
import { schedulerPluginDuration } from '../observability/kthena-metrics.js';
import { ConfigError, type SchedulerConfig } from './config.js';
import { pluginFactory, registeredPlugins } from './registry.js';
import type { FilterPlugin, LifecyclePlugin, Plugin, SchedulingRequest, SchedulingResult, ScorePlugin } from './types.js';
import './plugins/index.js';

export class NoEndpointError extends Error {
  override readonly name = 'NoEndpointError';
}

/**
 * Filter → weighted score → top N. Each plugin is instantiated once with its args and may serve as filter, scorer and
 * lifecycle listener at the same time (one instance, so a plugin's learned state is shared by its roles).
 */
export class Scheduler {
  private readonly filters: FilterPlugin[] = [];
  private readonly scorers: Array<{ plugin: ScorePlugin; weight: number }> = [];
  private readonly lifecycle: LifecyclePlugin[] = [];
  private readonly topN: number;

  constructor(config: SchedulerConfig, private readonly random: () => number = Math.random) {
    this.topN = config.topN;
    const instances = new Map<string, Plugin>();
    const instance = (name: string): Plugin => {
      let p = instances.get(name);
      if (!p) {
        const factory = pluginFactory(name);
        if (!factory) {
          throw new ConfigError(`unknown scheduler plugin "${name}" (known: ${registeredPlugins().join(', ')})`);
        }
        p = factory(config.args.get(name) ?? {});
        instances.set(name, p);
      }
      return p;
    };
    for (const name of config.filters) {
      const p = instance(name);
      if (!p.filter) throw new ConfigError(`scheduler plugin "${name}" cannot filter`);
      this.filters.push(p as FilterPlugin);
    }
    for (const { name, weight } of config.scores) {
      const p = instance(name);
      if (!p.score) throw new ConfigError(`scheduler plugin "${name}" cannot score`);
      if (weight > 0) this.scorers.push({ plugin: p as ScorePlugin, weight });
    }
    for (const p of instances.values()) {
      if (p.onPicked || p.onServed || p.onComplete || p.onEndpointsRemoved || p.close) this.lifecycle.push(p as LifecyclePlugin);
    }
  }

  schedule(req: SchedulingRequest, candidates: Endpoint[]): SchedulingResult {
    if (candidates.length === 0) throw new NoEndpointError('no ready endpoint for the model');
    let eps = candidates;
    for (const f of this.filters) {
      const started = performance.now();
      eps = f.filter(req, eps);
      observePlugin(req, f.name, 'filter', started);
      if (eps.length === 0) throw new NoEndpointError(`no endpoint left after filter "${f.name}"`);
    }
    const total = new Float64Array(eps.length);
    for (const { plugin, weight } of this.scorers) {
      const started = performance.now();
      const scores = plugin.score(req, eps);
      observePlugin(req, plugin.name, 'score', started);
      for (let i = 0; i < eps.length; i++) total[i]! += weight * clampScore(scores[i]);
    }
    const best = topN(total, this.topN, this.random);
    return { ranked: best.map((i) => eps[i]!), scores: best.map((i) => total[i]!) };
  }

  picked(req: SchedulingRequest, ep: Endpoint): void {
    for (const p of this.lifecycle) p.onPicked?.(req, ep);
  }

  served(req: SchedulingRequest, ep: Endpoint): void {
    for (const p of this.lifecycle) p.onServed?.(req, ep);
  }

  completed(req: SchedulingRequest, ep: Endpoint | undefined, outcome: Outcome): void {
    for (const p of this.lifecycle) p.onComplete?.(req, ep, outcome);
  }

  async close(): Promise<void> {
    await Promise.all(this.lifecycle.map((p) => p.close?.()));
  }

  endpointsRemoved(addresses: string[]): void {
    if (addresses.length === 0) return;
    for (const p of this.lifecycle) p.onEndpointsRemoved?.(addresses);
  }
}

function observePlugin(req: SchedulingRequest, plugin: string, type: 'filter' | 'score', started: number): void {
  schedulerPluginDuration.observe({ model: req.model, plugin, type }, (performance.now() - started) / 1000);
}

function clampScore(s: number | undefined): number {
  if (s === undefined || Number.isNaN(s)) return 0;
  return s < 0 ? 0 : s > 100 ? 100 : s;
}

/**
 * Indexes of the best `n` by score, without sorting everything; equal scores are ordered randomly, not by list
 * position.
 */
function topN(score: Float64Array, n: number, random: () => number): number[] {
  const k = Math.min(n, score.length);
  const best: number[] = [];
  const tie = new Float64Array(score.length);
  const better = (a: number, b: number) => score[a]! > score[b]! || (score[a] === score[b] && tie[a]! > tie[b]!);
  for (let i = 0; i < score.length; i++) {
    tie[i] = random();
    if (best.length < k) {
      best.push(i);
    } else if (better(i, best[k - 1]!)) {
      best[k - 1] = i;
    } else {
      continue;
    }
    for (let j = best.length - 1; j > 0 && better(best[j]!, best[j - 1]!); j--) {
      [best[j], best[j - 1]] = [best[j - 1]!, best[j]!];
    }
  }
  return best;
}
