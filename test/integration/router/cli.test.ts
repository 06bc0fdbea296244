import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// The router's command line as a newcomer meets it: --version, and --log-format text for reading logs by eye.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NO_PORTS = ['--host', '127.0.0.1', '--grpc-port', '0', '--health-port', '0', '--http-port', '0', '--metrics-port', '0'];
const router = (args: string[]) =>
  spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...args], { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['ignore', 'pipe', 'pipe'] });

describe('router command line', function () {
  this.timeout(60_000);

  it('--version prints the package version', async () => {
    const child = router(['--version']);
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    const code = await new Promise((resolve) => child.on('exit', resolve));
    const { version } = JSON.parse(readFileSync(`${ROOT}/package.json`, 'utf8')) as { version: string };
    expect(code).to.equal(0);
    expect(out).to.equal(`kthena-router ${version}\n`);
  });

  it('--log-format text writes readable lines; JSON is the default on a pipe', async () => {
    for (const [args, pattern] of [
      [['--log-format', 'text'], /^\d\d:\d\d:\d\d\.\d{3} INFO  kthena-router ready ports=/],
      [[], /^\{"level":30,.*"msg":"kthena-router ready"/],
    ] as const) {
      const child = router([...NO_PORTS, ...args]);
      const line = await new Promise<string>((resolve, reject) => {
        createInterface({ input: child.stdout! }).on('line', (l) => l.includes('kthena-router ready') && resolve(l));
        child.on('exit', (code) => reject(new Error(`router exited with ${code}`)));
      });
      child.kill('SIGTERM');
      await new Promise((resolve) => child.on('exit', resolve));
      expect(line).to.match(pattern);
    }
  });
});
