import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Bad configuration stops the start: exit code 2 and one line on stderr naming the problem, before any traffic.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NO_PORTS = ['--host', '127.0.0.1', '--grpc-port', '0', '--health-port', '0', '--http-port', '0', '--metrics-port', '0'];

function runRouter(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts', ...NO_PORTS, ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    });
  });
}

describe('router start with bad configuration', function () {
  this.timeout(60_000);
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-badcfg-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const expectOneLine = (r: { code: number | null; stderr: string }, text: string) => {
    expect(r.code, r.stderr).to.equal(2);
    expect(r.stderr.trimEnd().split('\n'), r.stderr).to.have.length(1);
    expect(r.stderr).to.include(text);
  };

  it('a --resources path that does not exist', async () => {
    const missing = join(dir, 'no-such-dir');
    expectOneLine(await runRouter(['--resources', missing]), `kthena-router: --resources ${missing}: no such file or directory`);
  });

  it('a resource file with a YAML syntax error', async () => {
    await writeFile(join(dir, 'fleet.yaml'), 'kind: ModelServer\nmetadata: {name: [oops\n');
    expectOneLine(await runRouter(['--resources', join(dir, 'fleet.yaml')]), `--resources ${join(dir, 'fleet.yaml')}: invalid YAML`);
  });

  it('an unknown key in --config, with the likely intended key', async () => {
    await writeFile(join(dir, 'config.yaml'), 'router:\n  maxBodyByte: 1024\n');
    expectOneLine(
      await runRouter(['--config', join(dir, 'config.yaml')]),
      'kthena-router: router.maxBodyByte: unknown setting (did you mean router.maxBodyBytes?)',
    );
  });
});
