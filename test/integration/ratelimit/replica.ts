// One router replica for the multi-process Redis test: hammers a ModelRoute's global input-token limit and prints
// what it admitted as JSON. Configured through the environment by redis-replicas.test.ts.
import { parseRateLimitConfig, RateLimiter } from '../../../src/filters/ratelimit/index.js';

const env = (k: string) => {
  const v = process.env[k];
  if (v === undefined) throw new Error(`missing ${k}`);
  return v;
};
const address = env('REDIS_ADDRESS');
const limit = Number(env('LIMIT'));
const attempts = Number(env('ATTEMPTS'));
const concurrency = Number(env('CONCURRENCY'));
let seed = Number(env('SEED'));
const startAt = Number(env('START_AT'));

// Deterministic costs of 5..15 tokens per request.
const nextCost = () => {
  seed = (seed * 1103515245 + 12345) % 2 ** 31;
  return 5 + (seed % 11);
};

const limiter = new RateLimiter(parseRateLimitConfig({ redis: { failureMode: 'fail-closed', timeoutMs: 2000 } }));
const routeLimit = { inputTokensPerUnit: limit, unit: 'hour' as const, global: { redis: { address } } };
const principal = { user: 'load', tenant: 'load', groups: [], method: 'api-key' as const };

const stats = { admitted: 0, admittedTokens: 0, refused: 0, errors: 0 };
let issued = 0;
async function worker(): Promise<void> {
  while (issued < attempts) {
    issued++;
    const cost = nextCost();
    const r = await limiter.reserve({ principal, model: 'm', routeKey: 'default/shared-route', routeLimit, inputTokens: cost, maxOutputTokens: 0 });
    if (r.ok) {
      stats.admitted++;
      stats.admittedTokens += cost;
    } else if (r.status === 429) stats.refused++;
    else stats.errors++;
  }
}

await new Promise((r) => setTimeout(r, Math.max(0, startAt - Date.now())));
await Promise.all(Array.from({ length: concurrency }, worker));
process.stdout.write(JSON.stringify(stats) + '\n');
await limiter.close();
