import { expect } from 'chai';
import { Readable } from 'node:stream';
import { SpanStatusCode } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { startRequestTrace, useTracer } from '../../../src/observability/tracing/request-trace.js';

// The request trace with the real OpenTelemetry SDK, spans kept in memory (the OTLP path is test/e2e/tracing).

describe('request trace', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const caller = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
  const spans = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);

  beforeEach(() => {
    exporter.reset();
    useTracer(provider.getTracer('test'));
  });
  afterEach(() => useTracer(undefined));

  it('is nothing at all while tracing is off', () => {
    useTracer(undefined);
    expect(startRequestTrace('proxy', 'POST', '/v1/chat/completions', new Map([['traceparent', caller]]))).to.equal(undefined);
  });

  it("continues the caller's traceparent, and starts a new trace when it is malformed", () => {
    startRequestTrace('proxy', 'POST', '/v1/completions?x=1', new Map([['traceparent', caller]]))!.end('success');
    startRequestTrace('proxy', 'POST', '/v1/completions', new Map([['traceparent', '00-zz-b7ad6b7169203331-01']]))!.end('success');
    const [continued, fresh] = spans('kthena.request');
    expect(continued!.spanContext().traceId).to.equal('0af7651916cd43dd8448eb211c80319c');
    expect(continued!.parentSpanContext?.spanId).to.equal('b7ad6b7169203331');
    expect(continued!.attributes['url.path']).to.equal('/v1/completions');
    expect(fresh!.parentSpanContext).to.equal(undefined);
  });

  it('marks server errors and requests that ended without an answer, not client errors; ends once', () => {
    for (const [status, outcome] of [[503, 'success'], [429, 'success'], [0, 'cancelled']] as const) {
      const t = startRequestTrace('extproc', 'POST', '/v1/chat/completions', new Map())!;
      if (status) t.respond(status);
      t.end(outcome);
      t.end('error');
    }
    const roots = spans('kthena.request');
    expect(roots).to.have.length(3);
    expect(roots.map((s) => s.status.code)).to.deep.equal([SpanStatusCode.ERROR, SpanStatusCode.UNSET, SpanStatusCode.ERROR]);
    expect(roots.map((s) => s.attributes['error.type'])).to.deep.equal(['503', undefined, 'cancelled']);
  });

  it('proxy attempts: a span each, counted resends, the traceparent written, ended when the body is dropped or on failure', async () => {
    const t = startRequestTrace('proxy', 'POST', '/v1/chat/completions', new Map([['traceparent', caller]]))!;
    const first: Record<string, string> = { traceparent: caller };
    const a1 = t.attempt('10.0.0.1:8000', first);
    a1.failed(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' }));
    const second: Record<string, string> = {};
    const a2 = t.attempt('[fd00::2]:8000', second);
    const body = Readable.from([Buffer.from('x')]);
    a2.answered(502, body);
    expect(spans('kthena.upstream')).to.have.length(1);
    body.destroy();
    await new Promise((r) => setImmediate(r));
    const [s1, s2] = spans('kthena.upstream');
    expect(s1!.attributes).to.include({ 'server.address': '10.0.0.1', 'server.port': 8000, 'error.type': 'ECONNREFUSED' });
    expect(s1!.attributes['http.request.resend_count']).to.equal(undefined);
    expect(s2!.attributes).to.include({ 'server.address': 'fd00::2', 'http.request.resend_count': 1, 'http.response.status_code': 502 });
    expect(s2!.status.code).to.equal(SpanStatusCode.ERROR);
    // Each attempt's own context replaces the caller's header.
    expect(first.traceparent).to.equal(`00-0af7651916cd43dd8448eb211c80319c-${s1!.spanContext().spanId}-01`);
    expect(second.traceparent).to.equal(`00-0af7651916cd43dd8448eb211c80319c-${s2!.spanContext().spanId}-01`);
  });

  it("follows the caller's sampling decision (parentbased_always_on): not sampled, nothing exported, flags passed on", () => {
    const t = startRequestTrace('proxy', 'POST', '/v1/chat/completions', new Map([['traceparent', caller.replace(/-01$/, '-00')]]))!;
    const headers: Record<string, string> = {};
    t.attempt('10.0.0.1:8000', headers).failed(new Error('x'));
    t.end('error');
    expect(exporter.getFinishedSpans()).to.deep.equal([]);
    expect(headers.traceparent).to.match(/^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-00$/);
  });

  it('ext_proc: the upstream span is ended by the response end, or by the end of the request', () => {
    const t = startRequestTrace('extproc', 'POST', '/v1/chat/completions', new Map())!;
    const headers: Record<string, string> = {};
    t.upstream('10.0.0.3:8000', headers);
    expect(headers.traceparent).to.match(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    t.end('cancelled');
    const [up] = spans('kthena.upstream');
    expect(up!.attributes['error.type']).to.equal('cancelled');
    expect(headers.traceparent).to.contain(up!.spanContext().spanId);
  });
});
