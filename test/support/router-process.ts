import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { createServer, type AddressInfo } from 'node:net';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface RouterProcess {
  child: ChildProcess;
  ports: { grpc: number; health?: number; http?: number; metrics?: number };
  /** Log lines (parsed JSON) the router wrote so far. */
  logs: Array<Record<string, unknown>>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/**
 * Starts `kthena-router` as a real process (through tsx, from the source tree) with ephemeral ports, and resolves
 * once it logs that it is ready, with the ports it bound. With a LOG_LEVEL that hides that info line (warn, error),
 * readiness is polled on /readyz instead.
 */
export async function startRouterProcess(args: string[], env: Record<string, string> = {}): Promise<RouterProcess> {
  // A port picked free can be taken by another process before the router binds it: pick again, a few times.
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(args, env);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes('address already in use')) throw err;
    }
  }
}

async function startOnce(args: string[], env: Record<string, string>): Promise<RouterProcess> {
  // Port 0 disables the optional servers, so they get free ports picked here; gRPC binds an ephemeral port itself
  // unless the ready line, which names it, will not be logged.
  const [health, http, metrics] = [await freePort(), await freePort(), await freePort()];
  const quiet = env.LOG_LEVEL !== undefined && !['trace', 'debug', 'info'].includes(env.LOG_LEVEL);
  const grpc = quiet ? await freePort() : 0;
  const child = spawn(
    process.execPath,
    [
      '--import', 'tsx', 'src/main.ts', '--host', '127.0.0.1', '--grpc-port', String(grpc),
      '--health-port', String(health), '--http-port', String(http), '--metrics-port', String(metrics), ...args,
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const logs: Array<Record<string, unknown>> = [];
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const ports = await new Promise<RouterProcess['ports']>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`router not ready in time; stderr: ${stderr}`)), 60_000);
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line);
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'kthena-router ready') {
        clearTimeout(timer);
        resolve(entry.ports as RouterProcess['ports']);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`router exited with ${code}: ${stderr}`));
    });
    if (quiet) {
      void until(async () => (await fetch(`http://127.0.0.1:${metrics}/readyz`).catch(() => undefined))?.ok === true, 60_000, 'router /readyz').then(
        () => {
          clearTimeout(timer);
          resolve({ grpc, health, http, metrics });
        },
        reject,
      );
    }
  });
  return {
    child,
    ports,
    logs,
    async stop(signal = 'SIGTERM') {
      if (child.exitCode !== null) return child.exitCode;
      child.kill(signal);
      return exited;
    },
  };
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

export async function until(cond: () => boolean | Promise<boolean>, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
