import { expect } from 'chai';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { DEFAULT_OPTIONS, parseCliArgs, resolveOptions } from '../../../src/sim/options.js';

describe('sim options and CLI', () => {
  it('parses every flag into simulator options', () => {
    const cli = parseCliArgs([
      '--host', '127.0.0.2', '--port', '8001', '--model', 'llama-3-8b', '--engine', 'sglang', '--lora', 'a, b',
      '--max-loras', '2', '--speed', '0.5', '--time-scale', '0.1', '--seed', '7', '--kv-blocks', '100',
      '--block-size', '32', '--max-num-seqs', '8', '--max-num-batched-tokens', '512', '--fail-rate', '0.25',
      '--prefill-tps', '16000', '--lora-load-ms', '20',
    ]);
    expect(cli).to.deep.include({ host: '127.0.0.2', port: 8001, help: false });
    expect(cli.sim).to.deep.include({
      model: 'llama-3-8b', engine: 'sglang', loras: ['a', 'b'], maxLoras: 2, speed: 0.5, timeScale: 0.1, seed: 7,
      kvBlocks: 100, blockSize: 32, maxNumSeqs: 8, maxNumBatchedTokens: 512, failRate: 0.25,
    });
    const o = resolveOptions(cli.sim);
    expect(o.cost).to.include({ prefillTokensPerSec: 16000, loraLoadMs: 20, decodeBaseMs: DEFAULT_OPTIONS.cost.decodeBaseMs });
    expect(o.maxModelLen).to.equal(3200); // clamped to the KV cache: 100 blocks x 32
    expect(parseCliArgs(['-h']).help).to.equal(true);
    expect(parseCliArgs([])).to.deep.include({ host: '127.0.0.1', port: 8000 });
  });

  for (const [args, message] of [
    [['--bogus'], /Unknown option/],
    [['--speed', 'fast'], /--speed needs a number/],
    [['--engine', 'tgi'], /vllm or sglang/],
    [['--port', '70000'], /--port/],
  ] as const) {
    it(`rejects ${args.join(' ')}`, () => {
      expect(() => parseCliArgs(args)).to.throw(message);
    });
  }

  it('validates option values', () => {
    expect(() => resolveOptions({ speed: 0 })).to.throw(/speed/);
    expect(() => resolveOptions({ timeScale: -1 })).to.throw(/time-scale/);
    expect(resolveOptions({ timeScale: 0 }).timeScale).to.equal(0);
    expect(() => resolveOptions({ kvBlocks: 1.5 })).to.throw(/kv-blocks/);
    expect(() => resolveOptions({ failRate: 2 })).to.throw(/fail-rate/);
    expect(() => resolveOptions({ loras: ['a', 'a'] })).to.throw(/unique/);
    expect(() => resolveOptions({ loras: ['bad name'] })).to.throw(/LoRA adapter name/);
    expect(() => resolveOptions({ cost: { loraLoadMs: -1 } })).to.throw(/lora-load-ms/);
    expect(resolveOptions()).to.deep.include({ engine: 'vllm', blockSize: 16, maxNumSeqs: 256 });
  });

  it('runs as a CLI: prints one line when listening and exits cleanly on SIGTERM', async function () {
    this.timeout(15000);
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/main.ts', '--port', '0', '--lora', 'x', '--time-scale', '0.1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      child.stdout.setEncoding('utf8');
      while (!out.includes('\n')) {
        const [chunk] = (await Promise.race([once(child.stdout, 'data'), once(child, 'exit')])) as [string];
        if (typeof chunk !== 'string') throw new Error('simulator exited early');
        out += chunk;
      }
      const url = /listening on (http:\/\/\S+)/.exec(out)![1]!;
      expect(out).to.match(/engine=vllm .*loras=x/);
      expect((await fetch(`${url}/health`)).status).to.equal(200);
      const exit = once(child, 'exit');
      child.kill('SIGTERM');
      const [code] = await exit;
      expect(code).to.equal(0);
      expect(out.trim().split('\n')).to.have.length(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('prints usage for --help and an error for bad flags', async function () {
    this.timeout(15000);
    const run = async (args: string[]) => {
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/sim/main.ts', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (out += d));
      const [code] = await once(child, 'exit');
      return { code, out };
    };
    const [help, bad] = await Promise.all([run(['--help']), run(['--kv-blocks', 'many'])]);
    expect(help.code).to.equal(0);
    expect(help.out).to.include('--time-scale');
    expect(bad.code).to.equal(2);
    expect(bad.out).to.include('--kv-blocks needs a number');
  });
});
