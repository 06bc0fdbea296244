import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// How the router and the simulators are launched. Through tsx each process transpiles and loads its TypeScript on
// start (about 3 s of CPU for the router, 1 s per simulator); the benchmark restarts the router and all engines for
// every (workload, policy) cell, so it bundles both programs once with esbuild (which tsx already ships) and starts
// plain `node` processes on the bundles: the same code, packaged. Without esbuild it falls back to tsx.

export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const OUT_DIR = fileURLToPath(new URL('../.cache/bench-scheduling/', import.meta.url));

export interface Entries {
  /** `node` arguments that start the router, before its own flags. */
  router: string[];
  /** `node` arguments that start one simulator, before its own flags. */
  sim: string[];
  kind: 'bundle' | 'tsx';
  /** Why the bundles could not be built, when kind is tsx. */
  fallbackReason?: string;
}

export async function buildEntries(): Promise<Entries> {
  try {
    // The tokenizer worker is an entry of its own: the router loads it from next to its module (worker.js).
    await esbuild(['router=src/main.ts', 'worker=src/tokenizer/worker.ts', 'sim=src/sim/main.ts'], OUT_DIR);
    return { router: [`${OUT_DIR}router.js`], sim: [`${OUT_DIR}sim.js`], kind: 'bundle' };
  } catch (err) {
    return {
      router: ['--import', 'tsx', 'src/main.ts'],
      sim: ['--import', 'tsx', 'src/sim/main.ts'],
      kind: 'tsx',
      fallbackReason: (err as Error).message,
    };
  }
}

function esbuild(entryPoints: string[], outdir: string): Promise<void> {
  const args = [...entryPoints, '--bundle', '--platform=node', '--format=esm', '--packages=external', `--outdir=${outdir}`, '--log-level=error'];
  return new Promise((resolve, reject) => {
    const child = spawn(`${ROOT}node_modules/.bin/esbuild`, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.once('error', reject);
    child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`esbuild failed: ${err}`))));
  });
}
