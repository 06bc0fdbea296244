import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EnvoyClient } from '../../support/envoy-client.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { findHttpFilter, loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { waitIdle } from '../../support/router-metrics.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';

// Issue 12 item 1 and issue 11 item 2 through real Envoy (envoy/envoy.yaml): clients that disconnect mid-stream or
// right after sending, and a bootstrap without response phases, cannot get more than a route's input-token limit to
// the pod. "Reached the pod" is Envoy's own count of upstream requests; each pattern has a route (budget) of its own.

const IP = '127.0.0.148';
const PORT = 18_748;
const LIMIT = 200;
const MODEL = 'meta-llama/Llama-3.1-8B-Instruct';
const ROUTES = ['probe', 'sse', 'sent', 'skip'] as const;
const ATTEMPTS = 25;
const PROMPT = 'Please summarize the long history of the Roman empire in three short sentences for a young child.';

const request = (model: string, stream = false) => ({
  method: 'POST',
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify({ model, messages: [{ role: 'user', content: PROMPT }], max_tokens: 24, stream }),
});

describe('e2e through real Envoy: token limits hold whatever the client does', function () {
  this.timeout(180_000);
  let dir: string;
  let sim: SimProcess;
  let router: RouterProcess;
  let envoy: EnvoyProcess;
  let cost = 0;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-limits-'));
    const limit = `  rateLimit: {inputTokensPerUnit: ${LIMIT}, unit: hour}`;
    await writeFile(join(dir, 'fleet.yaml'), documents(
      modelServerYaml('llama', { port: PORT, model: MODEL }),
      ...ROUTES.map((r) => modelRouteYaml(r, 'llama', [limit])),
      podYaml('llama-0', IP, 'llama'),
    ));
    // Slow decoding (about 1 s per answer): the client leaves while the pod still generates.
    sim = await startSimProcess(IP, PORT, ['--model', MODEL, '--decode-base-ms', '40', '--max-tokens-cap', '24']);
    router = await startRouterProcess(['--resources', dir]);
    envoy = await startGateway(envoyBootstrap());
    const probe = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    const t = await probe.exchange({ mode: 'FULL_DUPLEX_STREAMED', body: JSON.parse(request('probe').body) });
    probe.close();
    cost = LIMIT - Number(t.downstreamHeaders?.get('x-ratelimit-remaining-tokens'));
    expect(cost).to.be.within(10, 40);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await sim?.kill();
    await rm(dir, { recursive: true, force: true });
  });

  function envoyBootstrap(over?: (extProc: Record<string, any>) => void) {
    const cfg = loadBootstrap('envoy/envoy.yaml');
    setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
    over?.(findHttpFilter(cfg, 'envoy.filters.http.ext_proc'));
    return cfg;
  }

  async function startGateway(cfg: Record<string, any>): Promise<EnvoyProcess> {
    const e = await startEnvoy(cfg);
    await e.waitHealthy('kthena_router', 1);
    return e;
  }

  const upstreamRequests = async (e: EnvoyProcess) => (await e.stats('cluster.model_servers.upstream_rq_total'))['cluster.model_servers.upstream_rq_total'] ?? 0;

  /** Runs `attempt` ATTEMPTS times and checks what reached the pod against the limit; the router ends idle. */
  async function attack(e: EnvoyProcess, attempt: () => Promise<number | undefined>): Promise<void> {
    const before = await upstreamRequests(e);
    const statuses: number[] = [];
    for (let i = 0; i < ATTEMPTS; i++) {
      const s = await attempt();
      if (s !== undefined) statuses.push(s);
    }
    await waitIdle(router.ports.metrics!);
    const reached = (await upstreamRequests(e)) - before;
    expect(statuses.filter((s) => s !== 200 && s !== 429), 'only 200 and 429 answers').to.deep.equal([]);
    expect(statuses, 'the limit answered 429').to.include(429);
    expect(reached, 'something reached the pod').to.be.greaterThan(0);
    expect(reached * cost, `${reached} requests × ${cost} tokens reached the pod; limit ${LIMIT}`).to.be.at.most(LIMIT * 1.01);
  }

  it('a client that disconnects mid-stream (SSE) after the first bytes', async () => {
    await attack(envoy, async () => {
      const abort = new AbortController();
      const res = await fetch(`${envoy.url}/v1/chat/completions`, { ...request('sse', true), signal: abort.signal });
      if (res.status !== 200) {
        await res.arrayBuffer();
        return res.status;
      }
      expect(res.headers.get('content-type')).to.contain('text/event-stream');
      const reader = res.body!.getReader();
      const first = await reader.read();
      expect(first.done).to.equal(false);
      abort.abort();
      await reader.cancel().catch(() => undefined);
      return 200;
    });
  });

  it('a client that disconnects right after sending', async () => {
    await attack(envoy, async () => {
      const abort = new AbortController();
      const timer = setTimeout(() => abort.abort(), 30);
      try {
        const res = await fetch(`${envoy.url}/v1/chat/completions`, { ...request('sent'), signal: abort.signal });
        await res.arrayBuffer();
        return res.status;
      } catch (err) {
        expect((err as Error).name).to.equal('AbortError');
        return undefined;
      } finally {
        clearTimeout(timer);
      }
    });
  });

  it('a bootstrap without response phases (response headers SKIP, body NONE) still enforces input limits', async () => {
    const skip = await startGateway(
      envoyBootstrap((ext) => {
        ext.processing_mode = { ...ext.processing_mode, response_header_mode: 'SKIP', response_body_mode: 'NONE', response_trailer_mode: 'SKIP' };
      }),
    );
    try {
      await attack(skip, async () => {
        const res = await fetch(`${skip.url}/v1/chat/completions`, request('skip'));
        await res.arrayBuffer();
        return res.status;
      });
    } finally {
      await skip.stop();
    }
  });
});
