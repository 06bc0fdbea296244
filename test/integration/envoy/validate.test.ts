import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));

// A static check with Envoy's API types and validation rules (go-control-plane), kept beside the test of record,
// envoy-validate.test.ts, which runs the real Envoy binary; every deliberately broken configuration must be rejected.
describe('Envoy configuration (go-control-plane validation)', function () {
  this.timeout(15 * 60_000); // the first run downloads and builds go-control-plane

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
