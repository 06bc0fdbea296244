import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateSelfSignedCert } from '../../../src/frontends/extproc/self-signed-cert.js';
import { FakeProvider, REPLY_WORDS } from '../../integration/providers/fake-providers.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';
import { spillResources, SPILL_CONFIG, untilQueued } from './fleet.js';

// Spill-over through the standalone proxy, all real processes: the router, one simulated pod that runs one
// request at a time, and an HTTPS stand-in for OpenAI. The route's provider takes requests only while the pod is
// saturated (its queue at the threshold), the route's request limit still applies to them, and the spill is counted.

const POD = { ip: '127.0.118.1', port: 18_501 };
const PROVIDER_KEY = 'sk-spill-provider';

describe('spill-over to a provider under saturation (standalone proxy)', function () {
  this.timeout(60_000);
  const cert = generateSelfSignedCert({ altNames: ['127.0.0.1', 'localhost'] });
  let dir: string;
  let provider: FakeProvider;
  let sim: SimProcess;
  let router: RouterProcess;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-spill-'));
    provider = await FakeProvider.start('openai', cert, PROVIDER_KEY);
    await writeFile(join(dir, 'ca.pem'), cert.cert);
    await writeFile(join(dir, 'config.yaml'), SPILL_CONFIG(join(dir, 'ca.pem')));
    await writeFile(join(dir, 'fleet.yaml'), spillResources(POD, provider.origin(), PROVIDER_KEY));
    // One sequence at a time, ~20 ms per output token: a second request waits in the engine's queue.
    sim = await startSimProcess(POD.ip, POD.port, ['--model', 'llama', '--max-num-seqs', '1', '--decode-base-ms', '20']);
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')]);
  });

  after(async () => {
    await router?.stop();
    await sim?.kill();
    await provider?.close();
    await rm(dir, { recursive: true, force: true });
  });

  const url = () => `http://127.0.0.1:${router.ports.http}/v1/chat/completions`;
  const ask = (maxTokens: number) =>
    fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'mixed', messages: [{ role: 'user', content: 'hello there' }], max_tokens: maxTokens }),
    });
  const spilled = async () => {
    const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    const line = text.split('\n').find((l) => l.startsWith('kthena_router_spillover_requests_total{') && l.includes('route="default/mixed"'));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };

  it('serves from the pod while it has room, spills while it is saturated, and keeps the route limit', async () => {
    const first = await ask(4);
    expect(first.status).to.equal(200);
    expect(((await first.json()) as any).choices[0].message.content).to.not.equal(REPLY_WORDS.join(''));
    expect(provider.received).to.have.length(0);

    // Two long requests (~4 s each): one runs, one waits in the engine's queue.
    const busy = [ask(200), ask(200)];
    await untilQueued(POD);
    await new Promise((r) => setTimeout(r, 500)); // ten scrape intervals: the router has seen the queue
    const res = await ask(4);
    expect(res.status).to.equal(200);
    const answer = (await res.json()) as any;
    expect(answer.choices[0].message.content).to.equal(REPLY_WORDS.join(''));
    expect(answer.model).to.equal('mixed');
    expect(provider.received.at(-1)!.headers.authorization).to.equal(`Bearer ${PROVIDER_KEY}`);
    expect(await spilled()).to.be.at.least(1);

    // The route allows 6 requests a minute, spilled or not: keep asking until refused.
    let refused: Response | undefined;
    for (let i = 0; i < 6 && !refused; i++) {
      const res = await ask(4);
      if (res.status === 429) refused = res;
      else await res.text();
    }
    expect(refused?.status).to.equal(429);
    expect(((await refused!.json()) as any).error).to.be.an('object');
    for (const r of busy) expect((await r).status).to.equal(200);
  });
});
