import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// `npm test` runs scripts/setup-k8s-binaries.sh first: with the binaries cached it must succeed without Go.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CACHE = join(process.env.KTHENA_CACHE ?? join(homedir(), '.cache/kthena-router'), 'k8s/bin');
/** System directories only: Go lives in /usr/local/go or a user's directory, never here on our machines. */
const PATH_WITHOUT_GO = '/usr/bin:/bin';

describe('scripts/setup-k8s-binaries.sh', function () {
  this.timeout(60_000);

  it('needs no Go when the binaries are cached', async function () {
    if (!['kube-apiserver', 'etcd', 'kustomize'].every((b) => existsSync(join(CACHE, b)))) this.skip();
    if (existsSync('/usr/bin/go') || existsSync('/bin/go')) this.skip();
    const { code, output } = await new Promise<{ code: number; output: string }>((resolve) =>
      execFile('bash', ['scripts/setup-k8s-binaries.sh'], { cwd: ROOT, env: { ...process.env, PATH: PATH_WITHOUT_GO } }, (err, stdout, stderr) =>
        resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, output: stdout + stderr }),
      ),
    );
    expect(code, output).to.equal(0);
    expect(output).to.include('setup-k8s-binaries: ready in');
  });
});
