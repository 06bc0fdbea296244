import { kvcacheAwareMatchRatio, prefixCacheMatchRatio } from '../../observability/kthena-metrics.js';

/** Kthena's match-ratio histograms: the best candidate's share of the prompt found cached, per scheduling attempt. */
export function observeBestMatch(plugin: string, model: string, fractions: number[]): void {
  let best = 0;
  for (const f of fractions) if (f > best) best = f;
  const histogram = plugin === 'kvcache-aware' ? kvcacheAwareMatchRatio : prefixCacheMatchRatio;
  histogram.observe({ model }, Math.min(1, best));
}
