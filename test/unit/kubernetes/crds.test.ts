import { readFile, readdir } from 'node:fs/promises';
import { expect } from 'chai';
import { parse } from 'yaml';
import { crdDefinitions } from '../../../src/resources/schema.js';
import { renderCrds, toStructural } from '../../../src/sources/kubernetes/crds.js';

const dir = new URL('../../../manifests/crds/', import.meta.url);

describe('CRDs', () => {
  it('manifests/crds matches the resource schema (run npx tsx scripts/gen-crds.ts if not)', async () => {
    const rendered = renderCrds();
    const onDisk = (await readdir(dir)).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect(onDisk.sort()).to.deep.equal([...rendered.keys()].sort());
    for (const [name, text] of rendered) expect(await readFile(new URL(name, dir), 'utf8'), name).to.equal(text);
  });

  it('declares every kind with a status subresource, printer columns and the spec schema', () => {
    for (const def of crdDefinitions) {
      const crd = parse(renderCrds().get(`${def.group}_${def.plural}.yaml`)!);
      const version = crd.spec.versions[0];
      expect(crd.metadata.name).to.equal(`${def.plural}.${def.group}`);
      expect(crd.spec.names.kind).to.equal(def.kind);
      expect(version.subresources).to.deep.equal({ status: {} });
      expect(version.additionalPrinterColumns.map((c: any) => c.name)).to.include.members(['Accepted', 'Age']);
      expect(version.schema.openAPIV3Schema.properties.spec.required).to.deep.equal((def.specSchema as any).required);
    }
  });

  it('drops additionalProperties:false beside properties, which Kubernetes forbids', () => {
    const out = toStructural({ type: 'object', properties: { a: { type: 'string' } }, additionalProperties: false });
    expect(out).to.deep.equal({ type: 'object', properties: { a: { type: 'string' } } });
    const map = toStructural({ type: 'object', additionalProperties: { type: 'string', minLength: 1 } });
    expect(map.additionalProperties).to.deep.equal({ type: 'string', minLength: 1 });
  });

  it('refuses JSON Schema keywords a CRD cannot express, naming the field', () => {
    expect(() => toStructural({ type: 'object', properties: { a: { $ref: '#/x' } } })).to.throw(/spec\.a: keyword "\$ref"/);
    expect(() => toStructural({ type: 'object', properties: { b: { const: 1 } } })).to.throw(/spec\.b: keyword "const"/);
  });
});
