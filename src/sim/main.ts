import { CLI_USAGE, parseCliArgs } from './options.js';
import { startSimulator, type SimulatorHandle } from './index.js';

// CLI: npx tsx src/sim/main.ts --port 8000 --model llama-3-8b --lora a,b --time-scale 0.1 ...

async function main(): Promise<void> {
  let cli;
  try {
    cli = parseCliArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`kthena-sim: ${err instanceof Error ? err.message : String(err)}\n\n${CLI_USAGE}\n`);
    process.exit(2);
  }
  if (cli.help) {
    process.stdout.write(`${CLI_USAGE}\n`);
    return;
  }
  let sim;
  try {
    sim = await startSimulator({ ...cli.sim, host: cli.host, port: cli.port });
  } catch (err) {
    process.stderr.write(`kthena-sim: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
  const o = sim.options;
  process.stdout.write(
    `kthena-sim listening on ${sim.url} engine=${o.engine} model=${o.model} loras=${o.loras.join(',') || '-'} ` +
      `kv-blocks=${o.kvBlocks}x${o.blockSize} speed=${o.speed} time-scale=${o.timeScale}${pdSummary(sim)}\n`,
  );
  const shutdown = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

/** The P/D part of the start-up line, when the simulator plays one. */
function pdSummary(sim: SimulatorHandle): string {
  const o = sim.options;
  if (o.kvConnector !== 'none') return ` kv-connector=${o.kvConnector}`;
  if (o.disaggregationMode === 'null') return '';
  const bootstrap = sim.bootstrapPort === undefined ? '' : ` bootstrap-port=${sim.bootstrapPort}`;
  return ` disaggregation-mode=${o.disaggregationMode}${bootstrap}`;
}

void main();
