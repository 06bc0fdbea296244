import { registerPlugin } from '../registry.js';
import { gpuAware } from './gpu-aware.js';
import { gpuUsage } from './gpu-usage.js';
import { kvcacheAware } from './kvcache-aware.js';
import { leastLatency } from './least-latency.js';
import { leastRequest } from './least-request.js';
import { loadGuard } from './load-guard.js';
import { loraAffinity } from './lora-affinity.js';
import { precisePrefix } from './precise-prefix.js';
import { prefixCache } from './prefix-cache.js';
import { prefixLoad } from './prefix-load.js';
import { randomPlugin } from './random.js';
import { roundRobin } from './round-robin.js';
import { sessionAffinity } from './session-affinity.js';

// Every built-in plugin, by the name users write in the scheduler configuration.
registerPlugin('least-request', leastRequest);
registerPlugin('gpu-usage', gpuUsage);
registerPlugin('least-latency', leastLatency);
registerPlugin('random', randomPlugin);
registerPlugin('round-robin', roundRobin);
registerPlugin('prefix-cache', prefixCache);
registerPlugin('kvcache-aware', (args) => kvcacheAware(args));
registerPlugin('lora-affinity', loraAffinity);
registerPlugin('session-affinity', sessionAffinity);
registerPlugin('gpu-aware', gpuAware);
registerPlugin('load-guard', loadGuard);
registerPlugin('prefix-load', prefixLoad);
registerPlugin('precise-prefix', precisePrefix);
