import { pathToFileURL } from 'node:url';
import { Engine } from './engine.js';
import { CLI_USAGE, parseCliArgs, resolveOptions, type SimOptions } from './options.js';
import type { SimRequest } from './sequence.js';

// Replays a vLLM-style concurrency sweep (closed loop: C requests in flight, fixed prompt and output lengths) in
// simulated time, to compare the cost model with published measurements (docs/simulator.md, "Calibration").
// Usage: npx tsx src/sim/calibrate.ts [simulator flags, e.g. --prefill-tps 15000]

export interface SweepPoint {
  concurrency: number;
  outputTokensPerSec: number;
  meanTtftMs: number;
  meanTpotMs: number;
  preemptions: number;
}

export interface SweepShape {
  promptLen: number;
  outputLen: number;
  requests: number;
}

export async function sweepPoint(options: SimOptions, concurrency: number, shape: SweepShape): Promise<SweepPoint> {
  const engine = new Engine({ ...options, timeScale: 0 }); // virtual time: deterministic, as fast as the CPU allows
  const done: SimRequest[] = [];
  let launched = 0;
  await new Promise<void>((resolve) => {
    const launch = (): void => {
      const base = launched++ * shape.promptLen;
      engine.submit({
        promptTokens: Array.from({ length: shape.promptLen }, (_, k) => base + k),
        maxTokens: shape.outputLen,
        lora: null,
        sink: {
          onToken() {},
          onFinish(req) {
            done.push(req);
            if (launched < shape.requests) launch();
            else if (done.length === shape.requests) resolve();
          },
        },
      });
    };
    for (let i = 0; i < Math.min(concurrency, shape.requests); i++) launch();
  });
  engine.stop();
  const mean = (f: (r: SimRequest) => number): number => done.reduce((s, r) => s + f(r), 0) / done.length;
  const span = Math.max(...done.map((r) => r.finishSim!)) - Math.min(...done.map((r) => r.arrivalSim));
  return {
    concurrency,
    outputTokensPerSec: (done.length * shape.outputLen * 1000) / span,
    meanTtftMs: mean((r) => r.ttftSimMs!),
    meanTpotMs: mean((r) => r.tpotSimMs!),
    preemptions: engine.snapshot().preemptions,
  };
}

async function main(): Promise<void> {
  const cli = parseCliArgs(process.argv.slice(2));
  if (cli.help) {
    process.stdout.write(`Concurrency sweep in simulated time; accepts the simulator's flags.\n\n${CLI_USAGE}\n`);
    return;
  }
  const options = resolveOptions(cli.sim);
  process.stdout.write('| Concurrency | Output tok/s | Mean TTFT ms | Mean TPOT ms | Preemptions |\n| --- | --- | --- | --- | --- |\n');
  for (const c of [1, 2, 4, 8, 16, 32, 64]) {
    const p = await sweepPoint(options, c, { promptLen: 1024, outputLen: 128, requests: Math.min(20 * c, 320) });
    process.stdout.write(
      `| ${c} | ${p.outputTokensPerSec.toFixed(0)} | ${p.meanTtftMs.toFixed(0)} | ${p.meanTpotMs.toFixed(1)} | ${p.preemptions} |\n`,
    );
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    process.stderr.write(`calibrate: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  });
}
