// Cost of the Auth and RateLimit filters per request, and tokenizer throughput, each next to a baseline measured in
// the same run. Usage: npx tsx bench/filters.ts [--seconds 1]
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { spawnSync } from 'node:child_process';
import { generateKeyPair, exportSPKI, SignJWT } from 'jose';
import { Tiktoken } from 'js-tiktoken/lite';
import cl100k from 'js-tiktoken/ranks/cl100k_base';
import { Authenticator, parseAuthConfig } from '../src/filters/auth/index.js';
import { parseRateLimitConfig, RateLimiter, type ReserveRequest } from '../src/filters/ratelimit/index.js';
import { closeTokenizer, configureTokenizer, countTokens, countTokensAsync } from '../src/tokenizer/index.js';
import { RedisTestServer } from '../test/support/redis.js';
import { ADVERSARIAL, ENGLISH, TARGET_MS, TARGET_RATIO, type TokenizerCase } from './tokenizer-cases.js';

const seconds = Number(process.argv[process.argv.indexOf('--seconds') + 1]) || 1;

interface Row {
  group: string;
  name: string;
  opsPerSec: number;
  baseline?: number;
  note?: string;
}
const rows: Row[] = [];

/** Runs `fn` sequentially for the configured time after a short warm-up; returns operations per second. */
async function measure(fn: () => unknown | Promise<unknown>, budgetSeconds = seconds): Promise<number> {
  const warmEnd = performance.now() + 200;
  while (performance.now() < warmEnd) await fn();
  let n = 0;
  const t0 = performance.now();
  const end = t0 + budgetSeconds * 1000;
  while (performance.now() < end) {
    await fn();
    n++;
  }
  return n / ((performance.now() - t0) / 1000);
}

function prompt(bytes: number): string {
  const words = 'The quick brown fox jumps over the lazy dog. Kubernetes schedules inference pods; vLLM serves them, 42 times.'.split(' ');
  let s = '';
  for (let i = 0; s.length < bytes; i++) s += words[(i * 7) % words.length] + ' ';
  return s.slice(0, bytes);
}

// --- fixtures -------------------------------------------------------------------------------------------------------
const API_KEY = 'sk-bench-0123456789abcdef';
const { privateKey, publicKey } = await generateKeyPair('RS256');
const jwt = await new SignJWT({ tier: 'pro' }).setProtectedHeader({ alg: 'RS256', kid: 'bench' }).setIssuer('https://idp.bench')
  .setAudience('router').setSubject('bench-user').setExpirationTime('1h').sign(privateKey);
const introspection = createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ active: true, sub: 'bench-user', exp: Math.floor(Date.now() / 1000) + 3600 }));
});
await new Promise<void>((r) => introspection.listen(0, '127.0.0.1', r));

const auth = new Authenticator(
  parseAuthConfig({
    apiKeys: { keys: [{ key: API_KEY, user: 'bench-user', tier: 'pro' }] },
    jwt: { issuer: 'https://idp.bench', audiences: ['router'], keys: [{ kid: 'bench', alg: 'RS256', pem: await exportSPKI(publicKey) }] },
    oauth2: {
      introspectionEndpoint: `http://127.0.0.1:${(introspection.address() as AddressInfo).port}/`,
      clientId: 'router',
      clientSecret: 'secret',
      cacheTtlSeconds: 3600,
    },
  }),
);
const headers = {
  none: new Map<string, string>(),
  apiKey: new Map([['x-api-key', API_KEY]]),
  jwt: new Map([['authorization', `Bearer ${jwt}`]]),
  opaque: new Map([['authorization', 'Bearer opaque-token-for-bench']]),
};
const limits = { tiers: { pro: { requestsPerUnit: 1e12, inputTokensPerUnit: 1e15, outputTokensPerUnit: 1e15, unit: 'second' } } };
const local = new RateLimiter(parseRateLimitConfig(limits));
const principal = { user: 'bench-user', tenant: 'bench-user', tier: 'pro', groups: [], method: 'api-key' as const };
const rlReq: ReserveRequest = { principal, model: 'llama', inputTokens: 250, maxOutputTokens: 256 };

async function reserveAndCommit(l: RateLimiter): Promise<void> {
  const r = await l.reserve(rlReq);
  if (!r.ok) throw new Error(`bench limiter refused: ${r.message}`);
  r.reservation.commit(100);
}

// --- per-request filter cost ----------------------------------------------------------------------------------------
const baseline = await measure(async () => headers.none.get('authorization'));
rows.push({ group: 'filters', name: 'no filter (baseline)', opsPerSec: baseline, baseline });
// The same JWT verified on every request, as with `jwt.cacheTtlSeconds: 0`.
const uncachedJwt = new Authenticator(
  parseAuthConfig({
    jwt: {
      issuer: 'https://idp.bench',
      audiences: ['router'],
      keys: [{ kid: 'bench', alg: 'RS256', pem: await exportSPKI(publicKey) }],
      cacheTtlSeconds: 0,
    },
  }),
);
const authCases = [
  ['auth: API key', auth, headers.apiKey],
  ['auth: JWT RS256 (verified-token cache hit)', auth, headers.jwt],
  ['auth: JWT RS256 (full verification)', uncachedJwt, headers.jwt],
  ['auth: OAuth2 introspection (cached)', auth, headers.opaque],
] as const;
for (const [name, a, h] of authCases) {
  const ops = await measure(async () => {
    const r = await a.authenticate(h, 'llama');
    if (!r.ok) throw new Error(`bench auth failed: ${r.reason}`);
  });
  rows.push({ group: 'filters', name, opsPerSec: ops, baseline });
}
uncachedJwt.close();
rows.push({ group: 'filters', name: 'rate limit: in-memory (reserve + commit)', opsPerSec: await measure(() => reserveAndCommit(local)), baseline });
rows.push({
  group: 'filters',
  name: 'API key + in-memory rate limit',
  opsPerSec: await measure(async () => {
    await auth.authenticate(headers.apiKey, 'llama');
    await reserveAndCommit(local);
  }),
  baseline,
});

let redis: RedisTestServer | undefined;
if (!spawnSync('redis-server', ['--version']).error) {
  redis = await RedisTestServer.start();
  const remote = new RateLimiter(parseRateLimitConfig({ ...limits, redis: { address: redis.address, timeoutMs: 1000 } }));
  rows.push({
    group: 'filters',
    name: 'rate limit: Redis (reserve + commit)',
    opsPerSec: await measure(() => reserveAndCommit(remote)),
    baseline,
    note: 'one round trip on loopback',
  });
  await remote.close();
} else {
  rows.push({ group: 'filters', name: 'rate limit: Redis', opsPerSec: NaN, note: 'skipped: no redis-server' });
}

// --- token counting -------------------------------------------------------------------------------------------------
const reference = new Tiktoken(cl100k);
countTokens('gpt-4', 'warm up');
for (const size of [1024, 100 * 1024]) {
  const text = prompt(size);
  const label = size >= 1024 * 100 ? '100 KB' : '1 KB';
  const ref = await measure(() => reference.encode(text, [], []));
  rows.push({ group: 'tokens', name: `js-tiktoken encode, ${label} (reference)`, opsPerSec: ref, baseline: ref, note: mbps(ref, size) });
  const ours = await measure(() => countTokens('gpt-4', text));
  rows.push({ group: 'tokens', name: `countTokens (sync), ${label}`, opsPerSec: ours, baseline: ref, note: mbps(ours, size) });
  if (size > 8192) {
    configureTokenizer({ workerTimeoutMs: 30_000 });
    await countTokensAsync('gpt-4', text); // start the worker
    const lag = await maxLagDuring(() => measure(() => countTokensAsync('gpt-4', text)));
    rows.push({
      group: 'tokens',
      name: `countTokensAsync (worker), ${label}`,
      opsPerSec: lag.result,
      baseline: ref,
      note: `${mbps(lag.result, size)}; max event-loop lag ${lag.maxLagMs.toFixed(1)} ms`,
    });
  }
}

// --- bounded tokenizer cost: 1 MB prompts against the English baseline of this run ------------------------------------
/**
 * Milliseconds per count: the median of 5 runs, each on a text built beforehand and not counted before (English
 * repeats itself, so its caches are warm, as in a running router; the other cases get no help from earlier runs).
 */
function msPerCount(c: TokenizerCase): number {
  countTokens('gpt-4', c.fresh(1000)); // JIT warm-up on a text the timed runs do not reuse
  const texts = Array.from({ length: 5 }, (_, i) => c.fresh(i));
  const times = texts.map((text) => {
    const t0 = performance.now();
    countTokens('gpt-4', text);
    return performance.now() - t0;
  });
  times.sort((a, b) => a - b);
  return times[2]!;
}
const englishMs = msPerCount(ENGLISH);
const misses: string[] = [];
const bounded: { name: string; ms: number }[] = [{ name: ENGLISH.name, ms: englishMs }];
for (const c of ADVERSARIAL) bounded.push({ name: c.name, ms: msPerCount(c) });
for (const b of bounded) {
  const ratio = b.ms / englishMs;
  if (b.ms > TARGET_MS) misses.push(`${b.name}: ${b.ms.toFixed(1)} ms > ${TARGET_MS} ms`);
  if (ratio > TARGET_RATIO) misses.push(`${b.name}: ${ratio.toFixed(2)}x English > ${TARGET_RATIO}x`);
  rows.push({ group: 'tokens', name: `1 MB: ${b.name}`, opsPerSec: 1000 / b.ms, baseline: 1000 / englishMs, note: `${b.ms.toFixed(1)} ms` });
}

async function maxLagDuring<T>(fn: () => Promise<T>): Promise<{ result: T; maxLagMs: number }> {
  let maxLagMs = 0;
  let last = performance.now();
  const timer = setInterval(() => {
    const now = performance.now();
    maxLagMs = Math.max(maxLagMs, now - last - 10);
    last = now;
  }, 10);
  const result = await fn();
  clearInterval(timer);
  return { result, maxLagMs };
}

function mbps(opsPerSec: number, bytes: number): string {
  return `${((opsPerSec * bytes) / 1e6).toFixed(1)} MB/s`;
}

// --- report ---------------------------------------------------------------------------------------------------------
const fmt = (n: number, d = 0) => (Number.isFinite(n) ? n.toLocaleString('en-US', { maximumFractionDigits: d }) : '-');
console.log(`\nfilters benchmark (${seconds}s per row, sequential, node ${process.version})\n`);
console.log(`| ${'case'.padEnd(44)} | ${'ops/s'.padStart(11)} | ${'µs/op'.padStart(9)} | ${'vs baseline'.padStart(11)} | note`);
console.log(`|${'-'.repeat(46)}|${'-'.repeat(13)}|${'-'.repeat(11)}|${'-'.repeat(13)}|------`);
for (const r of rows) {
  const us = 1e6 / r.opsPerSec;
  const ratio = r.baseline ? `${(r.baseline / r.opsPerSec).toFixed(r.baseline / r.opsPerSec < 10 ? 2 : 0)}x` : '';
  console.log(`| ${r.name.padEnd(44)} | ${fmt(r.opsPerSec).padStart(11)} | ${fmt(us, 2).padStart(9)} | ${ratio.padStart(11)} | ${r.note ?? ''}`);
}
console.log('\n"vs baseline": time per operation relative to the group\'s baseline (no filter / js-tiktoken; English for the 1 MB rows).');
console.log(
  `\ntokenizer targets (1 MB prompts, countTokens): each <= ${TARGET_MS} ms, adversarial <= ${TARGET_RATIO}x English: ` +
    (misses.length === 0 ? 'met' : `MISSED\n  ${misses.join('\n  ')}`),
);
if (misses.length > 0) process.exitCode = 1;

auth.close();
await local.close();
await closeTokenizer();
introspection.close();
await redis?.stop();
