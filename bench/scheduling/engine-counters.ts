import { request } from 'undici';

// Counters read from each simulator's /metrics (vLLM names) before and after a run; their deltas give the prefix-cache
// hit rate the engines really saw and how the work was spread over the fleet.

export interface EngineCounters {
  prefixHits: number;
  prefixQueries: number;
  requests: number;
  generationTokens: number;
  promptTokens: number;
  preemptions: number;
  /** Sum and count of the engine's time-to-first-token histogram (wall seconds). */
  ttftSum: number;
  ttftCount: number;
}

const NAMES: Record<string, keyof EngineCounters> = {
  'vllm:prefix_cache_hits_total': 'prefixHits',
  'vllm:prefix_cache_queries_total': 'prefixQueries',
  'vllm:request_success_total': 'requests',
  'vllm:generation_tokens_total': 'generationTokens',
  'vllm:prompt_tokens_total': 'promptTokens',
  'vllm:num_preemptions_total': 'preemptions',
  'vllm:time_to_first_token_seconds_sum': 'ttftSum',
  'vllm:time_to_first_token_seconds_count': 'ttftCount',
};

export const ZERO_COUNTERS: EngineCounters = { prefixHits: 0, prefixQueries: 0, requests: 0, generationTokens: 0, promptTokens: 0, preemptions: 0, ttftSum: 0, ttftCount: 0 };

export async function readCounters(url: string): Promise<EngineCounters> {
  const res = await request(`${url}/metrics`, { headersTimeout: 10_000, bodyTimeout: 10_000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`${url}/metrics answered ${res.statusCode}`);
  return parseCounters(text);
}

/** Sums every series of the counters above (labels differ only by finish reason or engine). */
export function parseCounters(text: string): EngineCounters {
  const out = { ...ZERO_COUNTERS };
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const brace = line.indexOf('{');
    const space = line.lastIndexOf(' ');
    const name = line.slice(0, brace >= 0 ? brace : line.indexOf(' '));
    const key = NAMES[name];
    if (key === undefined || space < 0) continue;
    const v = Number(line.slice(space + 1));
    if (Number.isFinite(v)) out[key] += v;
  }
  return out;
}

export function subtract(after: EngineCounters, before: EngineCounters): EngineCounters {
  const out = { ...ZERO_COUNTERS };
  for (const k of Object.keys(out) as Array<keyof EngineCounters>) out[k] = after[k] - before[k];
  return out;
}
