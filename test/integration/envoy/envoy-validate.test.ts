import { expect } from 'chai';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { validateBootstrap } from '../../support/envoy-process.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(name) ? [path] : [];
  });
}

/** Every Envoy bootstrap the project ships: envoy/*, and any file under manifests/ that is Envoy configuration. */
function shippedBootstraps(): string[] {
  const manifests = yamlFiles(join(ROOT, 'manifests')).filter((f) => /^static_resources:/m.test(readFileSync(f, 'utf8')));
  return [...yamlFiles(join(ROOT, 'envoy')), ...manifests].map((f) => relative(ROOT, f));
}

// The test of record for Envoy configuration: the real Envoy 1.40 binary's --mode validate (scripts/setup-envoy.sh).
// Hostnames that resolve only in compose or Kubernetes (router, api.openai.com) are fine: validate mode resolves nothing.
// Envoy accepts a few mistakes with only a warning (an unknown retry_on token is ignored), so a warning fails too.
describe('Envoy configuration (envoy --mode validate, Envoy 1.40)', function () {
  this.timeout(120_000);

  const shipped = shippedBootstraps();
  it('finds the shipped bootstraps', () => {
    expect(shipped).to.include.members(['envoy/envoy.yaml', 'envoy/envoy-compose.yaml', 'envoy/providers.yaml']);
  });

  for (const file of shipped) {
    it(`accepts ${file} without a warning`, () => {
      const { ok, output, warnings } = validateBootstrap(join(ROOT, file));
      expect(ok, output).to.equal(true);
      expect(warnings, output).to.deep.equal([]);
      expect(output).to.contain('OK');
    });
  }

  const brokenDir = join(ROOT, 'tools/envoy-validate/testdata/broken');
  const broken = readdirSync(brokenDir).filter((f) => f.endsWith('.yaml'));
  it('has deliberately broken bootstraps to reject', () => expect(broken.length).to.be.greaterThan(0));
  for (const file of broken) {
    it(`rejects broken/${file}`, () => {
      const { ok, output, warnings } = validateBootstrap(join(brokenDir, file));
      expect(!ok || warnings.length > 0, `Envoy accepted ${file} silently:\n${output}`).to.equal(true);
    });
  }
});
