import { expect } from 'chai';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { loadBootstrap, setClusterEndpoints, startEnvoy, type EnvoyProcess } from '../../support/envoy-process.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startSimProcess, type SimProcess } from '../../support/sim-process.js';
import { BODY_MODES, chat, resourcesDir, setBodyMode, sseEvents, userMessage } from './harness.js';

const PORT = 18_410;
const IPS = ['127.0.1.11', '127.0.1.12'];
const UPSTREAM = 'meta-llama/Llama-3.1-8B-Instruct';
// Just under Envoy's default 1 MiB connection buffer limit, which a BUFFERED body must fit in.
const LARGE = 1_000_000;

// Every body mode Envoy offers an endpoint picker, through envoy/envoy.yaml with only processing_mode (and addresses)
// changed: the client's model name is rewritten to the upstream's in the request body (the simulator serves only the
// upstream name: anything else is a 404) and back in JSON answers and in every SSE chunk.
describe('e2e through real Envoy: request and response body modes (envoy/envoy.yaml)', function () {
  this.timeout(180_000);
  let res: Awaited<ReturnType<typeof resourcesDir>>;
  let sims: SimProcess[] = [];
  let router: RouterProcess;

  before(async () => {
    res = await resourcesDir(
      documents(
        modelServerYaml('llama', { port: PORT, model: UPSTREAM }),
        modelRouteYaml('llama', 'llama'),
        ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
      ),
      // envoy.yaml's ext_proc message_timeout (2s): outside full duplex a 1 MB decision needs more than the default 200 ms.
      'router: {messageTimeoutMs: 2000}\n',
    );
    const simArgs = ['--time-scale', '0', '--max-tokens-cap', '8', '--model', UPSTREAM, '--kv-blocks', '40000', '--max-model-len', '600000'];
    sims = await Promise.all(IPS.map((ip) => startSimProcess(ip, PORT, simArgs)));
    router = await startRouterProcess(['--resources', res.dir, '--config', res.config]);
  });

  after(async () => {
    await router?.stop();
    await Promise.all(sims.map((s) => s.kill()));
    await res?.remove();
  });

  for (const mode of BODY_MODES) {
    describe(mode, () => {
      let envoy: EnvoyProcess;
      before(async () => {
        const cfg = loadBootstrap('envoy/envoy.yaml');
        setClusterEndpoints(cfg, 'kthena_router', [{ host: '127.0.0.1', port: router.ports.grpc }]);
        setBodyMode(cfg, mode);
        envoy = await startEnvoy(cfg);
        await envoy.waitHealthy('kthena_router', 1);
      });
      after(async () => envoy?.stop());

      it('small body, JSON answer: the model is rewritten both ways', async () => {
        const r = await chat(envoy.url, { model: 'llama', messages: userMessage('hi'), max_tokens: 4 });
        expect(r.status, r.text).to.equal(200);
        expect(JSON.parse(r.text).model).to.equal('llama');
        expect(r.text).not.to.contain(UPSTREAM);
      });

      it('small body, SSE answer: every chunk names the client model', async () => {
        const r = await chat(envoy.url, { model: 'llama', messages: userMessage('hi'), max_tokens: 4, stream: true });
        expect(r.status, r.text).to.equal(200);
        expect(r.headers.get('content-type')).to.contain('text/event-stream');
        const events = sseEvents(r.text);
        expect(events.length).to.be.greaterThan(1);
        for (const e of events) expect(e.model).to.equal('llama');
        expect(r.text.trimEnd().endsWith('data: [DONE]')).to.equal(true);
      });

      it('1 MB body, JSON and SSE answers', async () => {
        const big = 'lorem ipsum '.repeat(Math.ceil(LARGE / 12)).slice(0, LARGE - 200);
        const json = await chat(envoy.url, { model: 'llama', messages: userMessage(big), max_tokens: 4 });
        expect(json.status, json.text.slice(0, 500)).to.equal(200);
        const body = JSON.parse(json.text);
        expect(body.model).to.equal('llama');
        expect(body.usage.prompt_tokens, 'the upstream saw the whole prompt').to.be.greaterThan(100_000);
        const sse = await chat(envoy.url, { model: 'llama', messages: userMessage(big), max_tokens: 4, stream: true });
        expect(sse.status, sse.text.slice(0, 500)).to.equal(200);
        for (const e of sseEvents(sse.text)) expect(e.model).to.equal('llama');
      });

      it('an unknown model is a 404 JSON error from the router, not an upstream answer', async () => {
        const r = await chat(envoy.url, { model: 'nope', messages: userMessage('hi') });
        expect(r.status).to.equal(404);
        expect(JSON.parse(r.text).error.code).to.equal('model_not_found');
      });
    });
  }
});
