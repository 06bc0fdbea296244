import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../src/config/config.js';
import { parseCli, CliError } from '../../../src/cli.js';
import { defaultWorkerCount } from '../../../src/tokenizer/index.js';

describe('config and CLI', () => {
  it('defaults', () => {
    const c = parseConfig({});
    expect(c.router).to.deep.equal({
      maxBodyBytes: 8 * 1024 * 1024,
      maxJsonDepth: 128,
      decisionTimeoutMs: 5000,
      messageTimeoutMs: 200,
      maxBufferedBodyBytes: 256 * 1024 * 1024,
      requestIdleTimeoutMs: 30_000,
      responseIdleTimeoutMs: 600_000,
      testMode: false,
      allowedPaths: [],
      attemptTimeouts: { headersMs: 0, firstTokenMs: 60_000 },
      headersTimeoutMs: 60_000,
      requestReceiveTimeoutMs: 300_000,
      trustedProxies: [],
    });
    expect(c.tokenizer).to.deep.equal({ workers: defaultWorkerCount(), maxQueued: 64, timeoutMs: 2000 });
    expect(parseConfig({ tokenizer: { workers: 3 } }).tokenizer.workers).to.equal(3);
    expect(c.metrics.scrapeIntervalMs).to.equal(500);
    expect(c.metrics.maxScrapesPerSecond).to.equal(500);
    expect(c.scheduler.scores.map((s) => s.name)).to.deep.equal(['prefix-load', 'lora-affinity']);
    // As the Go picker by default: only sheddable requests are refused under saturation, nothing is queued.
    expect(c.flowControl).to.include({ enabled: true, queueing: false, maxQueueTimeMs: 3000, maxQueueSize: 1000 });
    expect(parseConfig({ flowControl: { queueing: true } }).flowControl.queueing).to.equal(true);
  });

  it('router.allowedPaths takes exact paths only', () => {
    expect(parseConfig({ router: { allowedPaths: ['/v1/rerank', '/tokenize'] } }).router.allowedPaths).to.deep.equal(['/v1/rerank', '/tokenize']);
    for (const bad of ['v1/rerank', '/v1/../metrics', '/v1/x?y=1', '/v1//x', '/v1/x/', '/v1/a%2Fb', 7]) {
      expect(() => parseConfig({ router: { allowedPaths: [bad] } }), String(bad)).to.throw(/router\.allowedPaths\[0\]/);
    }
  });

  it('accepts Kthena routerConfiguration nested as a YAML string', () => {
    const c = parseConfig({
      routerConfiguration: 'scheduler:\n  plugins:\n    Score:\n      enabled:\n        - name: random\n          weight: 1\n',
    });
    expect(c.scheduler.scores).to.deep.equal([{ name: 'random', weight: 1 }]);
  });

  it('rejects wrong types with the field name', () => {
    expect(() => parseConfig({ router: { maxBodyBytes: 'big' } })).to.throw(ConfigError, /router.maxBodyBytes/);
    expect(() => parseConfig({ metrics: [] })).to.throw(/metrics must be a mapping/);
    // A budget below one maximum-size body could never admit such a body.
    expect(() => parseConfig({ router: { maxBodyBytes: 4096, maxBufferedBodyBytes: 4095 } })).to.throw(
      ConfigError,
      /router.maxBufferedBodyBytes must be a number >= 4096/,
    );
    expect(parseConfig({ router: { requestIdleTimeoutMs: 0 } }).router.requestIdleTimeoutMs).to.equal(0);
    expect(() => parseConfig({ metrics: { maxScrapesPerSecond: 0 } })).to.throw(ConfigError, /metrics.maxScrapesPerSecond/);
  });

  it('validates router.trustedProxies', () => {
    expect(parseConfig({ router: { trustedProxies: ['10.0.0.0/8', '::1', '127.0.0.1'] } }).router.trustedProxies).to.have.length(3);
    expect(() => parseConfig({ router: { trustedProxies: ['10.0.0.0/33'] } })).to.throw(ConfigError, 'router.trustedProxies[0]: 10.0.0.0/33 has an invalid prefix length');
    expect(() => parseConfig({ router: { trustedProxies: ['lb.local'] } })).to.throw(ConfigError, 'router.trustedProxies[0]: lb.local is not an IP address');
  });

  it('rejects unknown keys, naming the path and the likely intended key', () => {
    const fails = (input: unknown, message: string) => expect(() => parseConfig(input)).to.throw(ConfigError, message);
    fails({ router: { maxBodyByte: 1 } }, 'router.maxBodyByte: unknown setting (did you mean router.maxBodyBytes?)');
    fails({ routr: {} }, 'routr: unknown setting (did you mean router?)');
    fails({ metrics: { scrapeintervalms: 10 } }, 'metrics.scrapeintervalms: unknown setting (did you mean metrics.scrapeIntervalMs?)');
    fails({ flowControl: { saturation: { kvCache: 0.5 } } }, 'flowControl.saturation.kvCache: unknown setting (did you mean flowControl.saturation.kvCacheUsage?)');
    fails({ scheduler: { plugins: { Scores: {} } } }, 'scheduler.plugins.Scores: unknown setting (did you mean scheduler.plugins.Score?)');
    fails({ scheduler: { pluginConfig: [{ name: 'random', arg: {} }] } }, 'scheduler.pluginConfig[0].arg: unknown setting (did you mean scheduler.pluginConfig[0].args?)');
    fails({ providers: { retry: { attempt: 1 } } }, 'providers.retry.attempt: unknown setting (did you mean providers.retry.attempts?)');
    fails({ outlierDetection: { zzz: 1 } }, 'outlierDetection.zzz: unknown setting (expected one of enabled, consecutiveFailures, baseEjectionMs, maxEjectionMs)');
    fails({ routerConfiguration: { schedular: {} } }, 'schedular: unknown setting (did you mean scheduler?)');
  });

  it('parses the CLI contract', () => {
    const o = parseCli(['--resources', 'a.yaml', '--resources', 'dir', '--grpc-port', '9100', '--http-port', '0']);
    if (typeof o === 'string') throw new Error(o);
    expect(o).to.include({ grpcPort: 9100, httpPort: 0, metricsPort: 9090, host: '0.0.0.0' });
    expect(o.resources).to.deep.equal(['a.yaml', 'dir']);
    expect(parseCli(['-h'])).to.equal('help');
    expect(() => parseCli(['--grpc-port', 'x'])).to.throw(CliError, /--grpc-port/);
    expect(() => parseCli(['--bogus'])).to.throw(CliError);
    expect(parseCli(['--version'])).to.equal('version');
    const json = parseCli(['--log-format', 'json']);
    expect(typeof json !== 'string' && json.logFormat).to.equal('json');
    const unset = parseCli([]);
    expect(typeof unset !== 'string' && unset.logFormat).to.equal(undefined);
    expect(() => parseCli(['--log-format', 'pretty'])).to.throw(CliError, '--log-format must be one of text, json');
  });

  it('parses the secure-serving flags (plaintext unless asked)', () => {
    const tls = (argv: string[]) => {
      const o = parseCli(argv);
      if (typeof o === 'string') throw new Error(o);
      return o.tls;
    };
    expect(tls([])).to.equal(undefined);
    expect(tls(['--secure-serving'])).to.equal('self-signed');
    expect(tls(['--secure-serving', '--cert-path', '/certs'])).to.deep.equal({ certDir: '/certs' });
    expect(tls(['--secure-serving', '--cert-path', '/certs', '--enable-cert-reload'])).to.deep.equal({ certDir: '/certs', reloadIntervalMs: 10_000 });
    expect(() => tls(['--cert-path', '/certs'])).to.throw(CliError, /need --secure-serving/);
    expect(() => tls(['--secure-serving', '--enable-cert-reload'])).to.throw(CliError, /needs --cert-path/);
  });
});
