import { Counter, Gauge } from 'prom-client';
import { registry } from '../../observability/metrics.js';

// Front-door metrics of the ext_proc server.

export const extProcStreams = new Gauge({
  name: 'kthena_router_extproc_streams',
  help: 'Open ext_proc streams (one per HTTP request in flight through Envoy).',
  registers: [registry],
});

export const extProcImmediateResponses = new Counter({
  name: 'kthena_router_extproc_immediate_responses_total',
  help: 'Local replies sent to Envoy instead of a route, by HTTP status.',
  labelNames: ['status'] as const,
  registers: [registry],
});

export const extProcStreamFailures = new Counter({
  name: 'kthena_router_extproc_stream_failures_total',
  help:
    'ext_proc streams that ended abnormally, by reason: protocol, timeout, pipeline_error, internal, cancelled (reset before the decision or mid-response), idle_timeout, body_budget.',
  labelNames: ['reason'] as const,
  registers: [registry],
});
