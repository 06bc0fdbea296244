// `npm run loadgen -- [options]`: the load generator's command line.
import { CliError, parseLoadgenCli, USAGE } from './cli.js';
import { ProgressLine } from './progress.js';
import { formatReport } from './report.js';
import { runLoad } from './runner.js';
import { DEFAULT_WORKLOAD, loadWorkloadFile, WorkloadError } from './workload.js';

async function main(): Promise<number> {
  const cli = parseLoadgenCli(process.argv.slice(2));
  if (cli === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const workload = cli.workloadFile ? await loadWorkloadFile(cli.workloadFile) : DEFAULT_WORKLOAD;
  const noBound = cli.durationSeconds === undefined && cli.requests === undefined;
  const defaultsBound = workload.run.durationSeconds !== undefined || workload.run.requests !== undefined;
  const progress = process.stderr.isTTY || cli.progress ? new ProgressLine(process.stderr) : undefined;
  const stop = new AbortController();
  process.once('SIGINT', () => stop.abort());
  const report = await runLoad({
    url: cli.url,
    workload,
    seed: cli.seed,
    model: cli.model,
    rate: cli.rate,
    burstiness: cli.burstiness,
    concurrency: cli.concurrency,
    durationSeconds: cli.durationSeconds,
    // Without any bound, a short default run rather than an endless one.
    maxRequests: cli.requests ?? (noBound && !defaultsBound ? 100 : undefined),
    timeoutMs: cli.timeoutMs,
    headers: cli.headers,
    onProgress: progress ? (p) => progress.update(p) : undefined,
    signal: stop.signal,
  });
  progress?.clear();
  process.stdout.write(cli.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`);
  return report.completed === 0 && report.sent > 0 ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    const known = err instanceof CliError || err instanceof WorkloadError || err instanceof RangeError;
    process.stderr.write(`loadgen: ${known ? (err as Error).message : String((err as Error)?.stack ?? err)}\n`);
    if (err instanceof CliError) process.stderr.write(USAGE);
    process.exitCode = 2;
  },
);
