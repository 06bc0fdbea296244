import { expect } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

// A passing run prints no log lines: mocha, as `npm test` starts it (no LOG_LEVEL set), on a suite whose sources and
// routers log warnings in-process.

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const NOISY = ['test/unit/sources/files.test.ts', 'test/unit/kubernetes/reflector.test.ts'];

describe('test output', function () {
  this.timeout(120_000);

  it('has no JSON log lines in a passing run', async () => {
    const env = { ...process.env };
    delete env.LOG_LEVEL;
    const output = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, ['node_modules/mocha/bin/mocha.js', ...NOISY], { cwd: ROOT, env, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
        err ? reject(new Error(`${err.message}\n${stdout}${stderr}`)) : resolve(stdout + stderr),
      ),
    );
    expect(output).to.match(/\d+ passed, 0 failed/);
    const logLines = output.split('\n').filter((l) => l.startsWith('{"level"'));
    expect(logLines, logLines.slice(0, 3).join('\n')).to.deep.equal([]);
  });
});
