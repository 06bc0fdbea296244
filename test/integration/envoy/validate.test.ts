import { expect } from 'chai';
import { execFile, execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

/** Whether a Go toolchain is on PATH: tools/envoy-validate is a Go program. */
function haveGo(): boolean {
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// The configurations checked with Envoy's own API types and validation rules (go-control-plane), stricter than
// Envoy's loader on some fields; every deliberately broken configuration must be rejected. The real Envoy's verdict
// (envoy-validate.test.ts beside this file) is the test of record and needs no Go.
describe('Envoy configuration (go-control-plane validation)', function () {
  this.timeout(15 * 60_000); // the first run downloads and builds go-control-plane
  before(function () {
    if (!haveGo()) {
      console.log('    skipped: Go is not installed (needed to build tools/envoy-validate); envoy-validate.test.ts still validates with the real Envoy');
      this.skip();
    }
  });

  it('accepts every shipped bootstrap and rejects every broken one', async () => {
    const broken = (await readdir(`${ROOT}/tools/envoy-validate/testdata/broken`)).filter((f) => f.endsWith('.yaml'));
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', ['scripts/validate-envoy.sh'], { cwd: ROOT, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
      );
    });
    expect(code, `${stdout}\n${stderr}`).to.equal(0);
    expect(broken.length).to.be.greaterThan(0);
    for (const f of broken) expect(stdout).to.contain(`${f}: rejected as expected`);
  });
});
