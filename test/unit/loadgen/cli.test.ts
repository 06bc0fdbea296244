import { expect } from 'chai';
import { CliError, parseLoadgenCli } from '../../../bench/loadgen/cli.js';

describe('loadgen command line', () => {
  it('parses a full command line', () => {
    const cli = parseLoadgenCli(
      ['--url', 'http://127.0.0.1:9000/openai', '--workload', 'w.yaml', '--rate', '2.5', '--burstiness', '0.5', '--concurrency', '16',
        '--duration', '30', '--seed', '0', '--timeout', '10', '--header', 'X-Tenant: blue', '--api-key', 'sk-1', '--json', '--progress'],
      {},
    );
    expect(cli).to.deep.equal({
      url: 'http://127.0.0.1:9000/openai',
      workloadFile: 'w.yaml',
      model: undefined,
      rate: 2.5,
      burstiness: 0.5,
      concurrency: 16,
      durationSeconds: 30,
      requests: undefined,
      seed: 0,
      timeoutMs: 10_000,
      headers: { 'x-tenant': 'blue', authorization: 'Bearer sk-1' },
      json: true,
      progress: true,
    });
  });

  it('has defaults and takes the API key from the environment', () => {
    const cli = parseLoadgenCli([], { OPENAI_API_KEY: 'sk-env' });
    expect(cli).to.deep.include({ url: 'http://127.0.0.1:8080', seed: 1, timeoutMs: 300_000, json: false });
    expect(cli !== 'help' && cli.headers.authorization).to.equal('Bearer sk-env');
    expect(parseLoadgenCli(['-h'], {})).to.equal('help');
  });

  it('rejects bad values with the flag named', () => {
    expect(() => parseLoadgenCli(['--rate', '0'], {})).to.throw(CliError, /--rate/);
    expect(() => parseLoadgenCli(['--concurrency', '1.5'], {})).to.throw(CliError, /--concurrency/);
    expect(() => parseLoadgenCli(['--url', 'ftp://x'], {})).to.throw(CliError, /--url/);
    expect(() => parseLoadgenCli(['--header', 'novalue'], {})).to.throw(CliError, /--header/);
    expect(() => parseLoadgenCli(['--bogus'], {})).to.throw(CliError);
  });
});
