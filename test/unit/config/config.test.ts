import { expect } from 'chai';
import { ConfigError, parseConfig } from '../../../src/config/config.js';
import { parseCli, CliError } from '../../../src/cli.js';
import { defaultWorkerCount } from '../../../src/tokenizer/index.js';

describe('config and CLI', () => {
  it('defaults', () => {
    const c = parseConfig({});
    expect(c.router).to.deep.equal({
      maxBodyBytes: 8 * 1024 * 1024,
      decisionTimeoutMs: 5000,
      maxBufferedBodyBytes: 256 * 1024 * 1024,
      requestIdleTimeoutMs: 30_000,
      responseIdleTimeoutMs: 600_000,
      testMode: false,
    });
    expect(c.tokenizer).to.deep.equal({ workers: defaultWorkerCount(), maxQueued: 64, timeoutMs: 2000 });
    expect(parseConfig({ tokenizer: { workers: 3 } }).tokenizer.workers).to.equal(3);
    expect(c.metrics.scrapeIntervalMs).to.equal(500);
    expect(c.metrics.maxScrapesPerSecond).to.equal(500);
    expect(c.scheduler.scores.map((s) => s.name)).to.deep.equal(['prefix-load', 'lora-affinity']);
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

  it('parses the CLI contract', () => {
    const o = parseCli(['--resources', 'a.yaml', '--resources', 'dir', '--grpc-port', '9100', '--http-port', '0']);
    if (o === 'help') throw new Error('help');
    expect(o).to.include({ grpcPort: 9100, httpPort: 0, metricsPort: 9090, host: '0.0.0.0' });
    expect(o.resources).to.deep.equal(['a.yaml', 'dir']);
    expect(parseCli(['-h'])).to.equal('help');
    expect(() => parseCli(['--grpc-port', 'x'])).to.throw(CliError, /--grpc-port/);
    expect(() => parseCli(['--bogus'])).to.throw(CliError);
  });

  it('parses the secure-serving flags (plaintext unless asked)', () => {
    const tls = (argv: string[]) => {
      const o = parseCli(argv);
      if (o === 'help') throw new Error('help');
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
