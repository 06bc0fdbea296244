import { expect } from 'chai';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CellResult } from '../../../bench/scheduling/cell.js';
import { readRawResults, writeRawResults, type RawResults } from '../../../bench/scheduling/raw-results.js';

const FLEET = { instances: 8, slow: 2, slowSpeed: 0.5, kvBlocks: 3000, loras: [], maxLoras: 2, port: 1 };
const cell = (workload: string, policy: string, requests: number) => ({ workload, policy, requests, completed: requests }) as unknown as CellResult;

describe('bench raw results', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bench-raw-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads a file of an older run: duration from its write time, workloads and policies from the results', async () => {
    const path = join(dir, 'old.json');
    const startedAt = new Date('2026-01-02T03:04:00Z');
    const results = [cell('multi-turn', 'ours', 40), cell('multi-turn', 'random', 40), cell('short-prompt', 'ours', 60)];
    await writeFile(path, JSON.stringify({ startedAt, fleet: FLEET, seed: 7, results }));
    await utimes(path, new Date(), new Date(startedAt.getTime() + 600_000));
    const run = await readRawResults(path);
    expect(run.info.wallSeconds).to.be.closeTo(600, 0.01);
    expect(run.info.startedAt.toISOString()).to.equal(startedAt.toISOString());
    expect(run.info.command).to.equal('npm run bench:scheduling');
    expect(run.workloads.map((w) => [w.name, w.requests, w.rate])).to.deep.equal([['multi-turn', 40, 50], ['short-prompt', 60, 200]]);
    expect(run.policies.map((p) => p.name)).to.deep.equal(['ours', 'random']);
  });

  it('keeps what a newer run stored: duration, command, scaled workloads, policy order', async () => {
    const path = join(dir, 'sub', 'new.json');
    const raw: RawResults = {
      startedAt: '2026-01-02T03:04:00.000Z', fleet: FLEET, seed: 9, results: [cell('bursty', 'random', 30)], wallSeconds: 42,
      command: 'npm run bench:scheduling -- --quick', quick: true, launch: 'tsx',
      workloads: [{ name: 'bursty', requests: 30, rate: 15 }], policies: ['random'],
    };
    await writeRawResults(path, raw);
    const run = await readRawResults(path);
    expect(run.info).to.deep.include({ wallSeconds: 42, command: raw.command, quick: true, launch: 'tsx', seed: 9 });
    expect(run.workloads[0]).to.deep.include({ name: 'bursty', requests: 30, rate: 15, timeScale: 1.5 });
  });

  it('rejects unreadable files and names that no longer exist, naming the problem', async () => {
    const bad = join(dir, 'bad.json');
    await writeFile(bad, '{not json');
    await readRawResults(bad).then(() => expect.fail('should throw'), (err: Error) => expect(err.message).to.match(/cannot read raw results .*bad\.json/));
    const gone = join(dir, 'gone.json');
    await writeFile(gone, JSON.stringify({ startedAt: new Date(), fleet: FLEET, seed: 7, results: [cell('bursty', 'no-such-policy', 3)] }));
    await readRawResults(gone).then(() => expect.fail('should throw'), (err: Error) => expect(err.message).to.include('policy "no-such-policy"'));
    const empty = join(dir, 'empty.json');
    await writeFile(empty, JSON.stringify({ startedAt: new Date(), fleet: FLEET, seed: 7, results: [] }));
    await readRawResults(empty).then(() => expect.fail('should throw'), (err: Error) => expect(err.message).to.include('no results'));
  });
});
