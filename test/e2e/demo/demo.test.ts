import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect, createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, until } from '../../support/router-process.js';

// `npm start` as a newcomer runs it: a SIGTERM to npm stops the whole demo (no simulator left behind), and a port
// clash is one line, not a stack trace. The demo's own resources are copied onto addresses no other test uses.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const SIM_PORT = 18_941;
const simIp = (n: number) => `127.0.94.${10 + n}`;

/** Every live descendant of `pid` (Linux /proc). */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      // Field 4 of /proc/PID/stat is the parent; the command name (field 2) may hold spaces, so split after ')'.
      const ppid = Number(readFileSync(`/proc/${entry}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => (children.get(p) ?? []).forEach((c) => (out.push(c), walk(c)));
  walk(pid);
  return out;
}

const alive = (pid: number) => {
  try {
    return !/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
};

describe('npm start (the demo)', function () {
  this.timeout(90_000);
  let dir: string;
  let ports: string[];
  const leftovers: number[] = [];
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-demo-'));
    const fleet = await readFile(join(ROOT, 'examples/demo/fleet.yaml'), 'utf8');
    await writeFile(join(dir, 'fleet.yaml'), fleet.replace(/podIP: 127\.0\.0\.1(\d)/g, (_m, n) => `podIP: ${simIp(Number(n))}`));
    const models = await readFile(join(ROOT, 'examples/demo/models.yaml'), 'utf8');
    await writeFile(join(dir, 'models.yaml'), models.replace(/port: 8000/g, `port: ${SIM_PORT}`));
    const [http, grpc, health, metrics] = [await freePort(), await freePort(), await freePort(), await freePort()];
    ports = ['--http-port', String(http), '--grpc-port', String(grpc), '--health-port', String(health), '--metrics-port', String(metrics)];
  });
  afterEach(() => {
    for (const pid of leftovers.splice(0)) if (alive(pid)) process.kill(pid, 'SIGKILL');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('stops every process of the demo on a SIGTERM to npm', async () => {
    const npm = spawn('npm', ['start', '--', '--resources', dir, ...ports], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    npm.stdout!.on('data', (d) => (out += d));
    npm.stderr!.on('data', (d) => (out += d));
    await until(() => out.includes('Ctrl-C stops') || npm.exitCode !== null, 60_000, 'demo ready');
    expect(out).to.include(`vllm@${simIp(1)}:${SIM_PORT}`);
    const pids = descendants(npm.pid!);
    leftovers.push(...pids);
    expect(pids.length).to.be.greaterThan(0);

    npm.kill('SIGTERM');
    await until(() => pids.every((p) => !alive(p)), 20_000, `demo processes gone (left: ${pids.filter(alive).join(', ')})`);
    expect(await connects(simIp(1), SIM_PORT)).to.equal(false);
  });

  it('reports a port clash of a simulated engine in one line', async () => {
    const blocker = await occupy(simIp(2), SIM_PORT);
    try {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/demo/main.ts', '--resources', dir, ...ports], {
        cwd: ROOT,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      const { code, stderr } = await exited(child);
      expect(code).to.equal(2);
      expect(stderr.trimEnd().split('\n'), stderr).to.have.length(1);
      expect(stderr).to.match(new RegExp(`^kthena demo: cannot listen on ${simIp(2).replace(/\./g, '\\.')}:${SIM_PORT} .*address already in use`));
    } finally {
      blocker.close();
    }
  });
});

function occupy(host: string, port: number): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(port, host, () => resolve(server));
  });
}

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, host, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

function exited(child: ChildProcess): Promise<{ code: number | null; stderr: string }> {
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
  return new Promise((resolve) =>
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stderr });
    }),
  );
}
