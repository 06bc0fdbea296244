import type { ChildProcess } from 'node:child_process';

// Every process the benchmark starts, so that none outlives it: an interrupted run (Ctrl-C, SIGTERM, a crash) kills
// what is still running on its way out.

const live = new Set<ChildProcess>();

export function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

process.once('exit', () => {
  for (const child of live) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    process.stderr.write(`\ninterrupted (${signal}); stopping the fleet and the router\n`);
    process.exit(130);
  });
}
