import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { RedisTestServer } from '../../support/redis.js';

// Three router processes share one ModelRoute budget in a real redis-server. Together they ask for far more than
// the budget; what they admit in total must not exceed it by more than 1%.

const REPLICA = fileURLToPath(new URL('./replica.ts', import.meta.url));
const LIMIT = 20_000; // input tokens per hour: refill during the test is ~0.03%

interface Stats {
  admitted: number;
  admittedTokens: number;
  refused: number;
  errors: number;
}

function runReplica(env: Record<string, string>): Promise<Stats> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', REPLICA], {
      env: { ...process.env, ...env, LOG_LEVEL: 'error' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('exit', (code) => {
      if (code !== 0) return reject(new Error(`replica exited with ${code}: ${err}`));
      try {
        resolve(JSON.parse(out.trim().split('\n').pop()!) as Stats);
      } catch {
        reject(new Error(`bad replica output: ${out} ${err}`));
      }
    });
  });
}

describe('ratelimit: 3 router processes share one Redis budget', function () {
  this.timeout(60_000);
  let redis: RedisTestServer;
  before(async () => {
    redis = await RedisTestServer.start();
  });
  after(() => redis.stop());

  it('keeps over-admission within 1% of the limit', async () => {
    const startAt = String(Date.now() + 4000); // all three start together once loaded
    const results = await Promise.all(
      [1, 2, 3].map((seed) =>
        runReplica({
          REDIS_ADDRESS: redis.address,
          LIMIT: String(LIMIT),
          ATTEMPTS: '1500', // 3 × 1500 × ~10 tokens ≈ 2.25 × the budget
          CONCURRENCY: '16',
          SEED: String(seed),
          START_AT: startAt,
        }),
      ),
    );
    const total = results.reduce((a, r) => a + r.admittedTokens, 0);
    expect(results.map((r) => r.errors)).to.deep.equal([0, 0, 0]);
    expect(results.every((r) => r.admitted > 0 && r.refused > 0), JSON.stringify(results)).to.equal(true);
    expect(total, JSON.stringify(results)).to.be.at.most(LIMIT * 1.01);
    // And the budget was really used, not refused wholesale: at most one request's worth left over per replica.
    expect(total).to.be.at.least(LIMIT - 3 * 15);
  });
});
