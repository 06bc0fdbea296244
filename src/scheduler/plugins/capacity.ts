import type { Endpoint } from '../../datastore/endpoint.js';
import type { PluginArgs } from '../types.js';
import { boolArg, numArg, numberMapArg, strArg } from './args.js';

export interface CapacityOptions {
  capacityLabel: string;
  gpuTypeLabel: string;
  gpuSpeeds: Map<string, number>;
  learn: boolean;
  riseRate: number;
  decayHalfLifeSeconds: number;
}

export function capacityOptions(args: PluginArgs, plugin: string): CapacityOptions {
  return {
    capacityLabel: strArg(args, plugin, 'capacityLabel', 'kthena.io/gpu-capacity'),
    gpuTypeLabel: strArg(args, plugin, 'gpuTypeLabel', 'nvidia.com/gpu.product'),
    gpuSpeeds: numberMapArg(args, plugin, 'gpuSpeeds'),
    learn: boolArg(args, plugin, 'learn', false),
    riseRate: numArg(args, plugin, 'riseRate', 0.5, 0.001, 1),
    decayHalfLifeSeconds: numArg(args, plugin, 'decayHalfLifeSeconds', 120, 0.001),
  };
}

/**
 * How fast each endpoint's hardware is, relative to its peers. First known of:
 *  1. the pod label `capacityLabel` (default kthena.io/gpu-capacity), a positive relative speed;
 *  2. the pod's GPU type (label `gpuTypeLabel`, default nvidia.com/gpu.product) looked up in `gpuSpeeds`;
 *  3. learned (learn: true): a peak-tracking EWMA of output tokens/s per running sequence, from the engine's metrics.
 *     Per sequence, because a pod's total tokens/s mostly reflects how much traffic it was given, while its
 *     uncontended per-sequence speed reflects the GPU. The estimate rises quickly (riseRate per scrape) toward
 *     higher samples and decays toward lower ones with a half-life of decayHalfLifeSeconds, whatever the scrape rate.
 * Configured and learned values are in different units, so one kind is used for all candidates: configured if any
 * candidate has one, else learned; a candidate missing it counts as the median.
 */
export class CapacityEstimator {
  private readonly learned = new Map<string, { peak: number; seenAt: number }>();

  constructor(private readonly o: CapacityOptions) {}

  /** Per endpoint (same order), its capacity divided by the candidates' median: 1 on a homogeneous fleet. */
  relative(eps: readonly Endpoint[]): number[] {
    let caps: Array<number | undefined> = eps.map((e) => this.configured(e));
    let known = caps.some((c) => c !== undefined);
    if (this.o.learn) {
      const seen = eps.map((e) => this.observe(e));
      if (!known) {
        caps = seen;
        known = seen.some((c) => c !== undefined);
      }
    }
    if (!known) return new Array<number>(eps.length).fill(1);
    const mid = median(caps.filter((c): c is number => c !== undefined))!;
    return caps.map((c) => (c === undefined ? 1 : c / mid));
  }

  forget(addresses: readonly string[]): void {
    for (const a of addresses) this.learned.delete(a);
  }

  private configured(e: Endpoint): number | undefined {
    const raw = e.labels[this.o.capacityLabel];
    const label = Number(raw);
    if (raw !== undefined && Number.isFinite(label) && label > 0) return label;
    const type = e.labels[this.o.gpuTypeLabel];
    return type === undefined ? undefined : this.o.gpuSpeeds.get(type);
  }

  /** Folds in a new scrape (once per scrape) and returns the estimate. */
  private observe(e: Endpoint): number | undefined {
    const m = e.state.metrics;
    const prev = this.learned.get(e.address);
    if (!m || e.state.stale || prev?.seenAt === e.state.updatedAt) return prev?.peak;
    const tps = m.generationTokensPerSecond;
    if (tps === undefined || !(tps > 0) || m.running < 1) return prev?.peak;
    const sample = tps / m.running;
    let peak = sample;
    if (prev !== undefined) {
      const seconds = Math.max(0, (e.state.updatedAt - prev.seenAt) / 1000);
      const rate = sample > prev.peak ? this.o.riseRate : 1 - 2 ** (-seconds / this.o.decayHalfLifeSeconds);
      peak = prev.peak + rate * (sample - prev.peak);
    }
    this.learned.set(e.address, { peak, seenAt: e.state.updatedAt });
    return peak;
  }
}

function median(values: number[]): number | undefined {
  if (values.length === 0) return undefined;
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 === 1 ? v[mid] : (v[mid - 1]! + v[mid]!) / 2;
}
