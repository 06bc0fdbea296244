import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvoyClient, type Transcript } from '../../support/envoy-client.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { scrape, waitIdle } from '../../support/router-metrics.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// Issue 12 item 1: token limits cannot be dodged by going away after the pick. A route allows LIMIT input tokens per
// hour (so refill during the test is far below one request); each client pattern gets a route of its own and sends
// many ~20-token requests. Whatever the client does once its request left for the pod, the admitted requests' input
// tokens stay within the limit, and nothing stays held (streams, in-flight counts, reservations).

const IP = '127.0.0.147';
const PORT = 18_747;
const LIMIT = 200;
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const PATTERNS = ['probe', 'cancel', 'halfclose', 'disconnect'] as const;
const ATTEMPTS = 30;
const PROMPT = 'Please summarize the long history of the Roman empire in three short sentences for a young child.';

const body = (model: string) => ({ model, messages: [{ role: 'user', content: PROMPT }], max_tokens: 24 });

describe('rate limits: clients that go away after the pick stay charged', function () {
  this.timeout(120_000);
  let dir: string;
  let sim: SimProcess;
  let router: RouterProcess;
  let client: EnvoyClient;
  /** Input tokens one request costs, as the limiter counted them. */
  let cost = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-dodge-'));
    const limit = `  rateLimit: {inputTokensPerUnit: ${LIMIT}, unit: hour}`;
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT, model: MODEL }),
      ...PATTERNS.map((p) => modelRouteYaml(p, 'llama', [limit])),
      podYaml('llama-0', IP, 'llama'),
    ));
    // Slow decoding: a request is still being generated when its client goes away.
    sim = await startSimProcess(IP, PORT, ['--model', MODEL, '--decode-base-ms', '40', '--max-tokens-cap', '24']);
    router = await startRouterProcess(['--resources', dir]);
    client = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    const probe = await client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: body('probe') });
    expect(probe.destination, 'probe routed').to.equal(`${IP}:${PORT}`);
    cost = LIMIT - Number(probe.downstreamHeaders?.get('x-ratelimit-remaining-tokens'));
    expect(cost).to.be.within(10, 40);
  });

  after(async () => {
    client?.close();
    await router?.stop();
    await sim?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  /** Requests of `model` the router let through: every exchange it settled for that model. */
  const admitted = async (model: string) =>
    (await scrape(router.ports.metrics!))
      .filter((s) => s.name === 'kthena_router_requests_total' && s.labels.model === model && !s.labels.error_type!.endsWith('rate_limit'))
      .reduce((a, s) => a + s.value, 0);

  async function expectWithinLimit(model: string, clientSeen: number): Promise<void> {
    await waitIdle(router.ports.metrics!);
    const n = await admitted(model);
    expect(n, 'router count matches what the clients saw').to.equal(clientSeen);
    expect(n, 'something was admitted').to.be.greaterThan(0);
    expect(n * cost, `${n} admitted × ${cost} tokens within ${LIMIT}`).to.be.at.most(LIMIT * 1.01);
  }

  const routed = (t: Transcript) => t.destination === `${IP}:${PORT}`;
  const refused = (t: Transcript) => t.outcome === 'immediate' && t.immediate?.status === 429;

  it('ext_proc: cancelling the stream right after the pick', async () => {
    let through = 0;
    for (let i = 0; i < ATTEMPTS; i++) {
      const t = await client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: body('cancel'), cancelAt: 'routed' });
      expect(routed(t) || refused(t), `${t.outcome} ${t.reason ?? ''}`).to.equal(true);
      if (routed(t)) through++;
    }
    await expectWithinLimit('cancel', through);
  });

  it('ext_proc: half-closing the stream right after the pick', async () => {
    let through = 0;
    for (let i = 0; i < ATTEMPTS; i++) {
      const t = await client.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: body('halfclose'), response: null });
      expect(routed(t) || refused(t), `${t.outcome} ${t.reason ?? ''}`).to.equal(true);
      if (routed(t)) through++;
    }
    await expectWithinLimit('halfclose', through);
  });

  it('proxy: disconnecting 100 ms after sending, while the pod is still generating', async () => {
    let refusals = 0;
    for (let i = 0; i < ATTEMPTS; i++) {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 100);
      try {
        const res = await fetch(`http://127.0.0.1:${router.ports.http}/v1/chat/completions`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(body('disconnect')),
          signal: abort.signal,
        });
        expect(res.status, 'only refusals answer within 100 ms').to.equal(429);
        expect((await res.json()).error.code).to.equal('rate_limit_exceeded');
        refusals++;
      } catch (err) {
        expect((err as Error).name).to.equal('AbortError');
      } finally {
        clearTimeout(timer);
      }
    }
    expect(refusals, 'the limit answered 429').to.be.greaterThan(0);
    await expectWithinLimit('disconnect', await admitted('disconnect'));
  });
});
