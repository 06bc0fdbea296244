import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { parseDist, sample } from '../../../bench/loadgen/dist.js';
import { Rng } from '../../../bench/loadgen/random.js';
import { loadWorkloadFile, parseWorkload } from '../../../bench/loadgen/workload.js';

describe('loadgen workloads', () => {
  it('loads every shipped workload file', async () => {
    const dir = new URL('../../../bench/workloads/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml'));
    expect(files).to.include.members(['shared-prefix.yaml', 'short.yaml', 'multi-turn.yaml', 'lora-mix.yaml', 'bursty.yaml']);
    for (const f of files) {
      const w = await loadWorkloadFile(new URL(f, dir).pathname);
      expect(w.classes.length, f).to.be.greaterThan(0);
      expect(w.run.requests !== undefined || w.run.durationSeconds !== undefined, `${f} has a bound`).to.equal(true);
    }
  });

  it('reports what is wrong, and where', () => {
    expect(() => parseWorkload({ classes: [] }, 'w.yaml')).to.throw(/w\.yaml: classes must be a non-empty list/);
    expect(() => parseWorkload({ classes: [{ type: 'nope' }] })).to.throw(/classes\[0\]\.type/);
    expect(() => parseWorkload({ classes: [{ type: 'shared-prefix', groups: 0, systemPromptWords: 10 }] })).to.throw(/classes\[0\]\.groups/);
    expect(() => parseWorkload({ api: 'embeddings', classes: [{ type: 'single', promptWords: 1 }] })).to.throw(/api/);
    expect(() => parseWorkload({ models: [{ weight: 1 }], classes: [{ type: 'single', promptWords: 1 }] })).to.throw(/models\[0\]\.name/);
    expect(() => parseWorkload({ run: { rate: -1 }, classes: [{ type: 'single', promptWords: 1 }] })).to.throw(/run\.rate/);
  });

  it('samples lengths within their distribution', () => {
    const rng = new Rng(5);
    const uniform = parseDist({ min: 3, max: 6 }, 'd');
    const u = Array.from({ length: 2000 }, () => sample(uniform, rng));
    expect(new Set(u)).to.deep.equal(new Set([3, 4, 5, 6]));
    const normal = parseDist({ mean: 100, stddev: 20, min: 90 }, 'd');
    const n = Array.from({ length: 4000 }, () => sample(normal, rng));
    expect(Math.min(...n)).to.equal(90);
    const logn = parseDist({ median: 50, sigma: 0.5 }, 'd');
    const l = Array.from({ length: 4001 }, () => sample(logn, rng)).sort((a, b) => a - b);
    expect(l[2000]).to.be.within(46, 54);
    expect(sample(parseDist(7, 'd'), rng)).to.equal(7);
    expect(() => parseDist({ min: 5, max: 2 }, 'x')).to.throw(/x\.max/);
    expect(() => parseDist('many', 'x')).to.throw(/x must be/);
  });
});
