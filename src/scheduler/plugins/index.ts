import { registerPlugin } from '../registry.js';
import { gpuUsage } from './gpu-usage.js';
import { leastLatency } from './least-latency.js';
import { leastRequest } from './least-request.js';
import { randomPlugin } from './random.js';

// Every built-in plugin, by the name users write in the scheduler configuration.
registerPlugin('least-request', leastRequest);
registerPlugin('gpu-usage', gpuUsage);
registerPlugin('least-latency', leastLatency);
registerPlugin('random', randomPlugin);
