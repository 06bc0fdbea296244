import { effectiveLoad, invertMinMax } from '../load.js';
import type { Plugin, PluginArgs } from '../types.js';
import { CapacityEstimator, capacityOptions } from './capacity.js';

/**
 * Heterogeneous GPUs. Score: lower (load + 1) / capacity is better, so that a GPU twice as fast takes about twice
 * the requests (min-max normalised like least-request). Capacity from a pod label, a GPU-type speed table or learned
 * from the engine's tokens/s (see CapacityEstimator). Args: capacityLabel, gpuTypeLabel, gpuSpeeds {type: speed},
 * learn (default false), riseRate, decayHalfLifeSeconds.
 */
export function gpuAware(args: PluginArgs): Plugin {
  const capacity = new CapacityEstimator(capacityOptions(args, 'gpu-aware'));
  return {
    name: 'gpu-aware',
    score(_req, eps) {
      const caps = capacity.relative(eps);
      return invertMinMax(eps.map((e, i) => (effectiveLoad(e) + 1) / caps[i]!));
    },
    onEndpointsRemoved: (addresses) => capacity.forget(addresses),
  };
}
