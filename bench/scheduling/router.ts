import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { freePort } from '../../test/support/router-process.js';
import { track } from './children.js';
import { ROOT } from './entries.js';

// The router as its own process, configured for one policy: proxy, metrics and health on free loopback ports, gRPC on
// an ephemeral one. Resolves once the router logs that it is ready.

export interface RouterHandle {
  child: ChildProcess;
  /** Base URL of the OpenAI-compatible proxy. */
  url: string;
  stop(): Promise<void>;
}

export async function startRouter(entry: string[], configPath: string, resourcesDir: string): Promise<RouterHandle> {
  const [http, metrics, health] = [await freePort(), await freePort(), await freePort()];
  const child = track(spawn(
    process.execPath,
    [
      ...entry, '--host', '127.0.0.1', '--grpc-port', '0', '--health-port', String(health), '--http-port', String(http),
      '--metrics-port', String(metrics), '--config', configPath, '--resources', resourcesDir,
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', KTHENA_DRAIN_MS: '1000' }, stdio: ['ignore', 'pipe', 'pipe'] },
  ));
  let stderr = '';
  child.stderr!.on('data', (d) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout! });
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`router not ready within 30 s: ${stderr}`)), 30_000);
      lines.on('line', (line) => {
        if (!line.includes('"kthena-router ready"')) return;
        clearTimeout(timer);
        resolve();
      });
      void exited.then(() => {
        clearTimeout(timer);
        reject(new Error(`router exited with ${child.exitCode}: ${stderr.trim()}`));
      });
    });
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  // The log stays drained so that the router never blocks on a full pipe.
  return {
    child,
    url: `http://127.0.0.1:${http}`,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
}
