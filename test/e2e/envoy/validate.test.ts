import { expect } from 'chai';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { validateBootstrap } from '../../support/envoy-process.js';

// The test of record for the Envoy configurations: the real Envoy (`--mode validate`) accepts every shipped
// bootstrap and refuses the deliberately broken ones. test/integration/envoy/validate.test.ts adds go-control-plane's
// checks where Go is installed.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const yamlIn = (dir: string) => readdirSync(`${ROOT}/${dir}`).filter((f) => f.endsWith('.yaml')).map((f) => `${dir}/${f}`);
/** Envoy itself loads these; only go-control-plane's stricter field rules refuse them. */
const ONLY_GO_CONTROL_PLANE_REFUSES = new Set(['tools/envoy-validate/testdata/broken/bad-retry-on.yaml']);

describe('Envoy configuration (envoy --mode validate)', function () {
  this.timeout(120_000);

  for (const file of yamlIn('envoy')) {
    it(`accepts ${file}`, () => {
      const { ok, output } = validateBootstrap(`${ROOT}/${file}`);
      expect(ok, output).to.equal(true);
    });
  }

  for (const file of yamlIn('tools/envoy-validate/testdata/broken').filter((f) => !ONLY_GO_CONTROL_PLANE_REFUSES.has(f))) {
    it(`refuses ${file}`, () => {
      expect(validateBootstrap(`${ROOT}/${file}`).ok).to.equal(false);
    });
  }
});
