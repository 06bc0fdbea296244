import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

export interface SimProcess {
  child: ChildProcess;
  address: string;
  url: string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Starts the engine simulator CLI as a real process and resolves once it prints that it listens. */
export async function startSimProcess(host: string, port: number, args: string[] = []): Promise<SimProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/main.ts', '--host', host, '--port', String(port), ...args], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`simulator ${host}:${port} did not start: ${out}`)), 20_000);
    const onData = (d: Buffer) => {
      out += d;
      if (out.includes('kthena-sim listening')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`simulator ${host}:${port} exited: ${out}`));
    });
  });
  return {
    child,
    address: `${host}:${port}`,
    url: `http://${host}:${port}`,
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
