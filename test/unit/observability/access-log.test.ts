import { expect } from 'chai';
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../../../src/config/config.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { AccessLog, textLine, type AccessRecord } from '../../../src/observability/access-log.js';
import { redact } from '../../../src/observability/debug-endpoints.js';
import { startMetricsServer } from '../../../src/observability/http-server.js';

const record = (o: Partial<AccessRecord> = {}): AccessRecord => ({
  timestamp: '2026-01-01T00:00:00.000Z',
  method: 'POST',
  path: '/v1/chat/completions',
  frontend: 'proxy',
  status_code: 200,
  duration_total: 12,
  ...o,
});

function sink() {
  const lines: string[] = [];
  return { lines, write: (l: string) => void lines.push(l) };
}

describe('access log', () => {
  it('is on, JSON and unsampled by default; format, sampling and off come from the config', () => {
    expect(parseConfig({}).accessLog).to.deep.equal({ enabled: true, format: 'json', sampleRate: 1 });
    expect(parseConfig({ accessLog: { enabled: false, format: 'text', sampleRate: 0.1 } }).accessLog).to.deep.equal({ enabled: false, format: 'text', sampleRate: 0.1 });
    expect(() => parseConfig({ accessLog: { format: 'xml' } })).to.throw(/accessLog.format/);
    expect(() => parseConfig({ accessLog: { sampleRate: 2 } })).to.throw(/accessLog.sampleRate/);
  });

  it('writes one JSON line per request, none when disabled', () => {
    const out = sink();
    new AccessLog({ enabled: true, format: 'json', sampleRate: 1 }, out).write(record({ request_id: 'r1' }));
    new AccessLog({ enabled: false, format: 'json', sampleRate: 1 }, out).write(record());
    expect(out.lines).to.have.length(1);
    expect(JSON.parse(out.lines[0]!)).to.include({ request_id: 'r1', status_code: 200 });
  });

  it('samples successes but always logs failures', () => {
    const out = sink();
    const log = new AccessLog({ enabled: true, format: 'json', sampleRate: 0.25 }, out, () => 0.5);
    log.write(record());
    log.write(record({ status_code: 503, error: { type: 'pod_discovery' } }));
    expect(out.lines.map((l) => JSON.parse(l).status_code)).to.deep.equal([503]);
  });

  it('has a text format with the same fields', () => {
    const line = textLine(record({ model_name: 'llama', selected_pod: 'p-0', served_pod: 'p-1', input_tokens: 5, output_tokens: 7, duration_first_token: 3, error: { type: 'upstream' } }));
    expect(line).to.equal('[2026-01-01T00:00:00.000Z] "POST /v1/chat/completions" 200 error=upstream model_name=llama selected_pod=p-0 served_pod=p-1 frontend=proxy tokens=5/7 timings=12ms(first_token=3ms)');
  });
});

describe('debug endpoints', () => {
  it('redact credentials and passwords in URLs, keep the rest', () => {
    const out = redact({ auth: { apiKeys: { keys: [{ key: 'sk-1', user: 'a' }] } }, clientSecret: 's', redis: { url: 'redis://u:pw@h:6379' }, args: new Map([['x', 1]]) });
    expect(out).to.deep.equal({ auth: { apiKeys: { keys: [{ key: '[redacted]', user: 'a' }] } }, clientSecret: '[redacted]', redis: { url: 'redis://u:[redacted]@h:6379' }, args: { x: 1 } });
  });

  it('are off unless enabled: 404 without debug sources, JSON with them', async () => {
    const config = parseConfig({});
    for (const debug of [undefined, { config, datastore: new Datastore() }]) {
      const server = await startMetricsServer({ host: '127.0.0.1', port: 0, isReady: () => true, debug });
      try {
        const { port } = server.address() as AddressInfo;
        const r = await fetch(`http://127.0.0.1:${port}/debug/routes`);
        expect(r.status).to.equal(debug ? 200 : 404);
        if (debug) expect(await r.json()).to.deep.equal({ routes: [], inferencePools: [] });
        expect((await fetch(`http://127.0.0.1:${port}/debug/config`, { method: 'POST' })).status).to.equal(405);
      } finally {
        server.close();
      }
    }
  });
});
