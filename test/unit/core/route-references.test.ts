import { expect } from 'chai';
import { modelList } from '../../../src/core/models.js';
import { warnDanglingRoutes } from '../../../src/core/route-references.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import type { Logger } from '../../../src/observability/logger.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';
import { mr, ms } from '../../support/builders.js';

// A ModelRoute naming a ModelServer that does not exist (a typo, or a server not applied yet) is reported at load and
// kept out of /v1/models until one of its targets exists.

const r = (o: unknown) => parseResource(o) as Resource;
const SERVER = r(ms('llama-v1', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'llama' } }, workloadPort: { port: 8000 } }));
const ROUTES = [
  r(mr('llama', { modelName: 'llama', rules: [{ targetModels: [{ modelServerName: 'llama-v1' }] }] })),
  r(mr('typo', { modelName: 'qwen', loraAdapters: ['qwen-sql'], rules: [{ targetModels: [{ modelServerName: 'qwen-vl' }] }] })),
];

const listed = (ds: Datastore) => JSON.parse(modelList(ds).body.toString()).data.map((m: { id: string }) => m.id);

function recordingLogger(lines: string[]): Logger {
  return { warn: (msg: string) => lines.push(`warn ${msg}`), info: (msg: string) => lines.push(`info ${msg}`) } as unknown as Logger;
}

describe('ModelRoutes naming missing targets', () => {
  it('are left out of /v1/models until a target exists', () => {
    const ds = new Datastore();
    const sink = ds.sinkFor('t');
    sink.replace(['ModelServer', 'ModelRoute'], [SERVER, ...ROUTES]);
    expect(listed(ds)).to.deep.equal(['llama']);
    sink.upsert(r(ms('qwen-vl', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'qwen' } }, workloadPort: { port: 8000 } })));
    expect(listed(ds)).to.deep.equal(['llama', 'qwen', 'qwen-sql']);
  });

  it('are warned about once at load, and noted when they resolve', async () => {
    const ds = new Datastore();
    const sink = ds.sinkFor('t');
    sink.replace(['ModelServer', 'ModelRoute'], [SERVER, ...ROUTES]);
    const lines: string[] = [];
    const stop = warnDanglingRoutes(ds, recordingLogger(lines));
    expect(lines).to.deep.equal([
      'warn ModelRoute default/typo names ModelServer default/qwen-vl, which does not exist; not listed in /v1/models until a target exists',
    ]);
    sink.upsert(r(mr('other', { modelName: 'other', rules: [{ targetModels: [{ modelServerName: 'llama-v1' }] }] })));
    await Promise.resolve();
    expect(lines).to.have.length(1);
    sink.upsert(r(ms('qwen-vl', { inferenceEngine: 'vLLM', workloadSelector: { matchLabels: { app: 'qwen' } }, workloadPort: { port: 8000 } })));
    await Promise.resolve();
    expect(lines[1]).to.equal('info resolved: ModelRoute default/typo → ModelServer default/qwen-vl');
    stop();
  });
});
