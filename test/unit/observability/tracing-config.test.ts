import { expect } from 'chai';
import { tracingConfigFromEnv } from '../../../src/observability/tracing/config.js';

describe('tracing configuration from OTEL_* variables', () => {
  it('is off with no variable set, and with only unrelated ones', () => {
    expect(tracingConfigFromEnv({})).to.equal(undefined);
    expect(tracingConfigFromEnv({ OTEL_SERVICE_NAME: 'r', OTEL_TRACES_SAMPLER: 'always_on' })).to.equal(undefined);
  });

  it('turns on with an OTLP endpoint, generic or for traces, over http/protobuf by default', () => {
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).to.deep.equal({
      exporters: ['otlp'],
      protocol: 'http/protobuf',
      warnings: [],
    });
    expect(tracingConfigFromEnv({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://c:4318/v1/traces' })?.exporters).to.deep.equal(['otlp']);
  });

  it('turns on with OTEL_TRACES_EXPORTER, and `none` anywhere in the list turns it off', () => {
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'otlp' })?.exporters).to.deep.equal(['otlp']);
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: ' console , otlp,console' })?.exporters).to.deep.equal(['console', 'otlp']);
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://c:4318' })).to.equal(undefined);
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'otlp,none' })).to.equal(undefined);
  });

  it('OTEL_SDK_DISABLED=true wins over everything', () => {
    expect(tracingConfigFromEnv({ OTEL_SDK_DISABLED: 'TRUE', OTEL_TRACES_EXPORTER: 'otlp' })).to.equal(undefined);
    expect(tracingConfigFromEnv({ OTEL_SDK_DISABLED: 'false', OTEL_TRACES_EXPORTER: 'otlp' })?.exporters).to.deep.equal(['otlp']);
  });

  it('treats blank values as unset', () => {
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: ' ', OTEL_EXPORTER_OTLP_ENDPOINT: '' })).to.equal(undefined);
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: '' })?.protocol).to.equal('http/protobuf');
  });

  it('takes the traces protocol over the generic one', () => {
    const env = { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: 'grpc' };
    expect(tracingConfigFromEnv(env)?.protocol).to.equal('grpc');
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json' })?.protocol).to.equal('http/json');
  });

  it('ignores unsupported exporters and protocols with a warning, as the spec asks', () => {
    const c = tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'zipkin,otlp', OTEL_EXPORTER_OTLP_PROTOCOL: 'thrift' });
    expect(c?.exporters).to.deep.equal(['otlp']);
    expect(c?.protocol).to.equal('http/protobuf');
    expect(c?.warnings).to.have.length(2);
    expect(c?.warnings[0]).to.match(/zipkin/);
    expect(c?.warnings[1]).to.match(/OTEL_EXPORTER_OTLP_PROTOCOL.*thrift/);
    expect(tracingConfigFromEnv({ OTEL_TRACES_EXPORTER: 'jaeger' })).to.equal(undefined);
  });
});
