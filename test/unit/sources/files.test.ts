import { expect } from 'chai';
import { mkdir, mkdtemp, rm, writeFile, rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Datastore } from '../../../src/datastore/datastore.js';
import { FileSource } from '../../../src/sources/files.js';

const SERVER = `apiVersion: networking.serving.volcano.sh/v1alpha1
kind: ModelServer
metadata: {name: llama}
spec:
  inferenceEngine: vLLM
  workloadSelector: {matchLabels: {app: llama}}
  workloadPort: {port: 8000}
`;
const pods = (ips: string[]) =>
  ips
    .map(
      (ip, i) => `apiVersion: v1
kind: Pod
metadata: {name: p${i}, labels: {app: llama}}
status: {podIP: ${ip}, conditions: [{type: Ready, status: "True"}]}
`,
    )
    .join('---\n');

async function until(cond: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('file source', () => {
  let dir: string;
  let source: FileSource | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-files-'));
  });
  afterEach(async () => {
    await source?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('loads a directory of multi-document YAML and reports invalid objects without dropping the rest', async () => {
    await writeFile(join(dir, 'server.yaml'), SERVER);
    await writeFile(join(dir, 'pods.yaml'), pods(['10.0.0.1', '10.0.0.2']) + '---\napiVersion: v1\nkind: Pod\nmetadata: {}\n');
    await writeFile(join(dir, 'notes.txt'), 'not yaml: [');
    const ds = new Datastore();
    source = new FileSource([dir], { watch: false });
    await source.start(ds.sinkFor('files'));
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(2);
    expect(source.problems.map((p) => p.message)).to.deep.equal(['Pod: metadata.name is required']);
  });

  it('re-reads files when they change, and keeps the old objects while a file is broken', async () => {
    const file = join(dir, 'fleet.yaml');
    await writeFile(file, SERVER + '---\n' + pods(['10.0.0.1']));
    const ds = new Datastore();
    source = new FileSource([file], { debounceMs: 20 });
    await source.start(ds.sinkFor('files'));
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(1);
    // Atomic save (write + rename), as editors do.
    await writeFile(join(dir, '.tmp'), SERVER + '---\n' + pods(['10.0.0.1', '10.0.0.2', '10.0.0.3']));
    await rename(join(dir, '.tmp'), file);
    await until(() => ds.endpointsForServer('default', 'llama').length === 3);
    await writeFile(file, 'kind: [unclosed');
    await until(() => source!.problems.length > 0);
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(3);
  });

  it('loads InferenceObjectives, reports invalid ones by field, and forgets removed ones on reload', async () => {
    const objective = (name: string, spec: string) =>
      `apiVersion: inference.networking.x-k8s.io/v1alpha2\nkind: InferenceObjective\nmetadata: {name: ${name}, namespace: llm}\nspec: ${spec}\n`;
    const file = join(dir, 'objectives.yaml');
    await writeFile(file, [objective('premium', '{priority: 10, poolRef: {name: pool}}'), objective('bad', '{priority: high, poolRef: {name: pool}}'), objective('orphan', '{priority: 1}')].join('---\n'));
    const ds = new Datastore();
    source = new FileSource([file], { watch: false });
    await source.start(ds.sinkFor('files'));
    expect(ds.objective('llm', 'premium')?.spec).to.deep.equal({ priority: 10, poolRef: { group: 'inference.networking.k8s.io', kind: 'InferencePool', name: 'pool' } });
    expect(source.problems.map((p) => p.message)).to.deep.equal([
      'InferenceObjective llm/bad: spec.priority must be integer',
      "InferenceObjective llm/orphan: spec must have required property 'poolRef'",
    ]);
    await writeFile(file, objective('batch', '{priority: -1, poolRef: {name: pool}}'));
    await source.reload();
    expect(ds.objective('llm', 'premium')).to.equal(undefined);
    expect(ds.objective('llm', 'batch')?.spec.priority).to.equal(-1);
  });

  it('refuses to start on a missing path or a file that is not YAML, naming it', async () => {
    const ds = new Datastore();
    const missing = join(dir, 'nope.yaml');
    source = new FileSource([missing], { watch: false });
    await expectRejection(source.start(ds.sinkFor('files')), `--resources ${missing}: no such file or directory`);
    await writeFile(join(dir, 'server.yaml'), SERVER);
    await writeFile(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
    source = new FileSource([dir], { watch: false });
    await expectRejection(source.start(ds.sinkFor('files')), `--resources ${join(dir, 'broken.yaml')}: invalid YAML:`);
  });

  it('keeps the objects of a path that disappears after the start', async () => {
    const sub = join(dir, 'fleet');
    await mkdir(sub);
    await writeFile(join(sub, 'fleet.yaml'), SERVER + '---\n' + pods(['10.0.0.1']));
    const ds = new Datastore();
    source = new FileSource([sub], { watch: false });
    await source.start(ds.sinkFor('files'));
    await rm(sub, { recursive: true });
    await source.reload();
    expect(source.problems[0]!.message).to.equal('no such file or directory');
    expect(ds.endpointsForServer('default', 'llama')).to.have.length(1);
  });
});

async function expectRejection(p: Promise<unknown>, messageStart: string): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: Error) => e,
  );
  expect(err?.name).to.equal('ResourceError');
  expect(err!.message.startsWith(messageStart), err!.message).to.equal(true);
  expect(err!.message).not.to.include('\n');
}
