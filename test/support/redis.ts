import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A throwaway redis-server on a free loopback port, no persistence. It can be killed and restarted on the same port
// to test outages. Needs the Debian package: `apt-get install -y redis-server` (.ci/run installs it).

export class RedisTestServer {
  private proc: ChildProcess | undefined;
  private readonly dir = mkdtempSync(join(tmpdir(), 'kthena-redis-'));

  private constructor(
    readonly host: string,
    readonly port: number,
  ) {}

  get address(): string {
    return `${this.host}:${this.port}`;
  }

  static async start(host = '127.0.0.1'): Promise<RedisTestServer> {
    if (spawnSync('redis-server', ['--version']).error) {
      throw new Error('redis-server not found: install it with `apt-get install -y redis-server`');
    }
    for (let attempt = 0; ; attempt++) {
      const server = new RedisTestServer(host, await freePort(host));
      try {
        await server.resume();
        return server;
      } catch (err) {
        await server.stop();
        if (attempt >= 2) throw err;
      }
    }
  }

  /** (Re)starts the server on its port. */
  async resume(): Promise<void> {
    if (this.proc) return;
    const args = ['--port', String(this.port), '--bind', this.host, '--save', '', '--appendonly', 'no'];
    args.push('--dir', this.dir, '--protected-mode', 'no', '--loglevel', 'warning', '--daemonize', 'no');
    const proc = spawn('redis-server', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    this.proc = proc;
    proc.on('exit', () => {
      if (this.proc === proc) this.proc = undefined;
    });
    const deadline = Date.now() + 5000;
    while (!(await ping(this.host, this.port))) {
      if (!this.proc || Date.now() > deadline) throw new Error(`redis-server did not start on ${this.address}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Kills the server (SIGKILL: an abrupt outage), keeping the port for `resume`. */
  async kill(): Promise<void> {
    const proc = this.proc;
    if (!proc) return;
    this.proc = undefined;
    await new Promise<void>((resolve) => {
      proc.once('exit', () => resolve());
      proc.kill('SIGKILL');
    });
  }

  async stop(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

async function freePort(host: string): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, host, r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function ping(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on('error', () => done(false));
    sock.on('connect', () => sock.write('PING\r\n'));
    sock.on('data', (d) => done(d.toString().startsWith('+PONG')));
  });
}
