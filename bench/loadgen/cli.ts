import { parseArgs } from 'node:util';

export interface LoadgenCli {
  url: string;
  workloadFile?: string;
  model?: string;
  rate?: number;
  burstiness?: number;
  concurrency?: number;
  durationSeconds?: number;
  requests?: number;
  seed: number;
  timeoutMs: number;
  headers: Record<string, string>;
  json: boolean;
  progress: boolean;
}

export const USAGE = `Usage: npm run loadgen -- [options]

Drives an OpenAI-compatible endpoint (the router's proxy or an engine) and reports throughput, TTFT, TPOT and
end-to-end latency percentiles and errors.

  --url URL            base URL (default http://127.0.0.1:8080)
  --workload FILE      workload YAML/JSON (see bench/workloads/); default: short single prompts
  --model NAME         model for workloads that name none
  --rate R             open loop: Poisson arrivals at R requests/s
  --burstiness B       open loop: Gamma-shaped gaps, 1 = Poisson (default), < 1 bursty
  --concurrency C      closed loop with C requests in flight (default 1); with --rate, a cap on requests in flight
  --duration S         stop sending after S seconds
  --requests N         stop after N requests (100 when neither this, --duration nor the workload sets a bound)
  --seed N             request sequence and arrivals seed (default 1)
  --timeout S          per-request timeout in seconds (default 300)
  --header 'K: V'      extra request header, repeatable
  --api-key KEY        sends Authorization: Bearer KEY (default: $OPENAI_API_KEY if set)
  --json               print the report as JSON on stdout
  --progress           show the progress line even when stderr is not a terminal
  -h, --help           this help
`;

export class CliError extends Error {
  override readonly name = 'CliError';
}

export function parseLoadgenCli(argv: string[], env: NodeJS.ProcessEnv = process.env): LoadgenCli | 'help' {
  let values: Record<string, string | boolean | string[] | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        url: { type: 'string' },
        workload: { type: 'string' },
        model: { type: 'string' },
        rate: { type: 'string' },
        burstiness: { type: 'string' },
        concurrency: { type: 'string' },
        duration: { type: 'string' },
        requests: { type: 'string' },
        seed: { type: 'string' },
        timeout: { type: 'string' },
        header: { type: 'string', multiple: true },
        'api-key': { type: 'string' },
        json: { type: 'boolean' },
        progress: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (err) {
    throw new CliError((err as Error).message);
  }
  if (values.help) return 'help';
  const url = (values.url as string | undefined) ?? 'http://127.0.0.1:8080';
  if (!URL.canParse(url) || !/^https?:$/.test(new URL(url).protocol)) throw new CliError(`--url must be an http(s) URL, got ${url}`);
  const headers: Record<string, string> = {};
  for (const h of (values.header as string[] | undefined) ?? []) {
    const i = h.indexOf(':');
    if (i <= 0) throw new CliError(`--header must look like 'Name: value', got ${h}`);
    headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
  }
  const apiKey = (values['api-key'] as string | undefined) ?? env.OPENAI_API_KEY;
  if (apiKey && !headers.authorization) headers.authorization = `Bearer ${apiKey}`;
  return {
    url,
    workloadFile: values.workload as string | undefined,
    model: values.model as string | undefined,
    rate: num(values.rate, '--rate'),
    burstiness: num(values.burstiness, '--burstiness'),
    concurrency: int(values.concurrency, '--concurrency'),
    durationSeconds: num(values.duration, '--duration'),
    requests: int(values.requests, '--requests'),
    seed: int(values.seed, '--seed', 0) ?? 1,
    timeoutMs: (num(values.timeout, '--timeout') ?? 300) * 1000,
    headers,
    json: values.json === true,
    progress: values.progress === true,
  };
}

function num(v: unknown, flag: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new CliError(`${flag} must be a number > 0, got ${String(v)}`);
  return n;
}

function int(v: unknown, flag: string, min = 1): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new CliError(`${flag} must be an integer >= ${min}, got ${String(v)}`);
  return n;
}
