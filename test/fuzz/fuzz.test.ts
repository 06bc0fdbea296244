import { expect } from 'chai';
import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../src/config/config.js';
import { loadProtos } from '../../src/frontends/extproc/proto.js';
import type { ProcessingRequest, ProcessingResponse } from '../../src/frontends/extproc/wire.js';
import { registry } from '../../src/observability/metrics.js';
import { startRouter, type Router } from '../../src/router.js';
import type { Exchange, Outcome } from '../../src/core/types.js';
import { startFakeEngine, type FakeEngine } from '../support/fake-engine.js';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../support/fleet-yaml.js';
import { freePort, until } from '../support/router-process.js';
import { EnvoyClient } from '../support/envoy-client.js';
import { extProcScript, httpRequestBytes, randomBody, randomPath, Rng } from './generators.js';

// Bounded fuzzing of everything a client or a gateway can send: random and mutated bodies straight into the
// pipeline, random and mutated ext_proc message sequences over real gRPC, and random HTTP/1.1 requests over raw
// sockets to the proxy, all against one in-process router with its real wiring (token limits, scheduler, token
// counting) in front of fake engines. Each part must neither crash nor leak: afterwards no ext_proc stream is
// open and no endpoint holds an in-flight request. FUZZ_SEED replays a run; FUZZ_SCALE multiplies the case counts.

const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 1_000_000);
const SCALE = Number(process.env.FUZZ_SCALE ?? 1);
const CASES = { pipeline: 60_000 * SCALE, extproc: 25_000 * SCALE, proxy: 15_000 * SCALE };
const IPS = ['127.0.99.1', '127.0.99.2', '127.0.99.3'];

describe(`fuzz (seed ${SEED}; replay with FUZZ_SEED=${SEED})`, function () {
  this.timeout(600_000);
  let dir: string;
  let engines: FakeEngine[] = [];
  let router: Router;

  before(async () => {
    const first = await startFakeEngine({ host: IPS[0]!, engine: 'vllm', state: { streamUsage: 'always' } });
    const port = Number(first.address.split(':')[1]);
    engines = [first, ...(await Promise.all(IPS.slice(1).map((host) => startFakeEngine({ host, port, engine: 'vllm', state: { streamUsage: 'always' } }))))];
    dir = await mkdtemp(join(tmpdir(), 'kthena-fuzz-'));
    await writeFile(
      join(dir, 'fleet.yaml'),
      documents(
        modelServerYaml('llama', { port, model: 'meta-llama/Llama-3.1-8B-Instruct' }),
        // A token limit no fuzz run reaches, so every decision takes and settles a reservation.
        modelRouteYaml('llama', 'llama', ['  rateLimit: {inputTokensPerUnit: 1000000000, unit: hour}']),
        ...IPS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama')),
      ),
    );
    router = await startRouter({
      config: parseConfig({ metrics: { scrapeIntervalMs: 200 }, router: { maxBodyBytes: 64 * 1024 }, accessLog: { enabled: false } }),
      resources: [dir],
      host: '127.0.0.1',
      grpcPort: 0,
      healthPort: 0,
      httpPort: await freePort(),
      metricsPort: 0,
    });
  });

  after(async () => {
    await router?.stop(100);
    await Promise.all(engines.map((e) => e.close()));
    await rm(dir, { recursive: true, force: true });
  });

  async function expectNoLeaks(what: string): Promise<void> {
    await until(async () => (await gauge('kthena_router_extproc_streams')) === 0, 15_000, `${what}: ext_proc streams closed`);
    await until(() => [...router.datastore.allEndpoints()].every((e) => e.inflight === 0), 15_000, `${what}: no endpoint in flight`);
  }

  it(`the pipeline survives ${CASES.pipeline} random and mutated requests and settles every exchange`, async () => {
    const rng = new Rng(SEED);
    const outcomes: Outcome[] = ['success', 'error', 'cancelled'];
    let routed = 0;
    for (let i = 0; i < CASES.pipeline; i++) {
      const body = randomBody(rng);
      const headers = new Map<string, string>([['content-type', 'application/json']]);
      if (rng.chance(0.1)) headers.set('x-gateway-destination-endpoint', '10.9.9.9:80');
      const decision = await router.pipeline.handle({
        frontend: rng.chance(0.5) ? 'extproc' : 'proxy',
        method: rng.chance(0.95) ? 'POST' : 'GET',
        path: randomPath(rng),
        headers,
        body,
      });
      if (decision.kind === 'reject') {
        expect(decision.status, `case ${i}`).to.be.within(400, 599);
        const err = JSON.parse(decision.body.toString()) as { error?: { message?: unknown } };
        expect(err.error?.message, `case ${i}`).to.be.a('string');
        continue;
      }
      if (decision.kind !== 'route') continue;
      routed++;
      expect(decision.endpoints.every((e) => IPS.some((ip) => e.startsWith(ip))), `case ${i}: never a client-chosen endpoint`).to.equal(true);
      drive(decision.exchange, rng, outcomes);
    }
    expect(routed, 'some cases must get through to scheduling').to.be.greaterThan(CASES.pipeline / 20);
    await expectNoLeaks('pipeline');
  });

  it(`the ext_proc server survives ${CASES.extproc} random and mutated message streams`, async () => {
    const rng = new Rng(SEED ^ 0x5eed);
    const { ExtProcClient } = loadProtos();
    const client = new ExtProcClient(`127.0.0.1:${router.ports.grpc}`, grpc.credentials.createInsecure()) as unknown as {
      Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse>;
      close(): void;
    };
    let next = 0;
    const worker = async () => {
      while (next < CASES.extproc) {
        next++;
        await runStream(client, extProcScript(rng), rng);
      }
    };
    await Promise.all(Array.from({ length: 64 }, worker));
    client.close();
    await expectNoLeaks('ext_proc');
    // Still serving: a well-formed exchange gets routed to a pod.
    const envoy = new EnvoyClient(`127.0.0.1:${router.ports.grpc}`);
    const t = await envoy.exchange({ mode: 'BUFFERED', body: { model: 'llama', messages: [{ role: 'user', content: 'hi' }] } });
    envoy.close();
    expect(t.destination?.split(':')[0], JSON.stringify(t.immediate ?? t.outcome)).to.be.oneOf(IPS);
  });

  it(`the proxy survives ${CASES.proxy} random raw HTTP requests`, async () => {
    const proxy = { port: router.ports.http! };
    {
      const rng = new Rng(SEED ^ 0xf00d);
      let next = 0;
      const statuses = new Map<string, number>();
      const worker = async () => {
        while (next < CASES.proxy) {
          next++;
          const status = await rawRequest(proxy.port, httpRequestBytes(rng, `127.0.0.1:${proxy.port}`));
          statuses.set(status, (statuses.get(status) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 32 }, worker));
      expect(statuses.get('timeout') ?? 0, `no request may hang: ${JSON.stringify([...statuses])}`).to.equal(0);
      expect([...statuses.keys()].some((s) => s.startsWith('2')), 'some requests are served').to.equal(true);
      expect([...statuses.keys()].filter((s) => s.startsWith('5') && s !== '503' && s !== '502' && s !== '504'), 'no internal errors').to.deep.equal([]);
      await expectNoLeaks('proxy');
      expect(await rawRequest(proxy.port, Buffer.from(validRequest(proxy.port)))).to.equal('200');
    }
  });
});

/** Plays a routed exchange to a random end: served, response headers, body chunks with usage, finish. */
function drive(exchange: Exchange, rng: Rng, outcomes: Outcome[]): void {
  if (rng.chance(0.8)) exchange.served(`${rng.pick(IPS)}:1`);
  if (rng.chance(0.8)) {
    exchange.responseHeaders(rng.pick([200, 500, 429]), new Map([['content-type', rng.pick(['application/json', 'text/event-stream'])]]));
    for (let n = rng.int(4); n > 0; n--) {
      const chunk = rng.chance(0.5)
        ? Buffer.from(`data: {"model":"x","usage":{"prompt_tokens":${rng.int(40)},"completion_tokens":${rng.int(40)}}}\n\n`)
        : rng.bytes(rng.int(80));
      exchange.responseBody(chunk, n === 1);
    }
  }
  exchange.finish(rng.pick(outcomes));
}

/** Sends a script on a fresh stream; ends it by half-close, cancel or silence + cancel. */
function runStream(
  client: { Process(): grpc.ClientDuplexStream<ProcessingRequest, ProcessingResponse> },
  script: ProcessingRequest[],
  rng: Rng,
): Promise<void> {
  return new Promise((resolve) => {
    const call = client.Process();
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    // A stream the server neither ends nor answers is cancelled by us (as Envoy's timers would), never left open.
    const timer = setTimeout(() => call.cancel(), 300);
    call.on('data', () => {});
    call.on('error', finish);
    call.on('end', finish);
    call.on('close', finish);
    const ending = rng.int(3);
    for (const m of script) {
      try {
        call.write(m);
      } catch {
        // a message the codec refuses is simply not sent
      }
    }
    if (ending === 0) call.end();
    else if (ending === 1) setTimeout(() => call.cancel(), rng.int(20));
  });
}

/**
 * One request on a raw socket; resolves with the status code, 'closed' if none came, or 'timeout'. A request whose
 * declared length was not all sent gets a half-close after a while, as a client that gives up would.
 */
function rawRequest(port: number, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let settled = false;
    const settle = (v: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(giveUp);
      socket.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => settle('timeout'), 20_000);
    const giveUp = setTimeout(() => socket.end(), 500);
    socket.on('connect', () => socket.write(bytes));
    socket.on('data', (d) => {
      data += d.toString('latin1');
      const m = /^HTTP\/1\.1 (\d{3})/.exec(data);
      if (m && data.includes('\r\n\r\n')) settle(m[1]!);
    });
    socket.on('error', () => settle('closed'));
    socket.on('close', () => settle(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 'closed'));
  });
}

function validRequest(port: number): string {
  const body = JSON.stringify({ model: 'llama', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  return `POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`;
}

async function gauge(name: string): Promise<number> {
  const m = await registry.getSingleMetric(name)?.get();
  return (m?.values ?? []).reduce((sum, v) => sum + v.value, 0);
}
