// Programmatic API of the load generator (used by the scheduling benchmark).
export { runLoad } from './runner.js';
export type { LoadOptions, Progress } from './runner.js';
export { generateRequests, requestStream } from './generate.js';
export type { LoadRequest, ChatMessage } from './generate.js';
export { DEFAULT_WORKLOAD, loadWorkloadFile, parseWorkload, WorkloadError } from './workload.js';
export type { Workload, RequestClass, WeightedModel, RunDefaults } from './workload.js';
export type { Dist } from './dist.js';
export { formatReport } from './report.js';
export type { LoadReport, ClassReport, RunSettings } from './report.js';
export type { RequestResult } from './client.js';
export type { Summary } from './stats.js';
export { summarize, quantile } from './stats.js';
export { arrivalTimes } from './arrivals.js';
export { Rng } from './random.js';
