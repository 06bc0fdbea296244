import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { chatBody, jsonReply, startUpstreams, type Upstream } from './harness.js';

// A clean drain of the standalone proxy (issue 12, item 9): steady keep-alive load through the router process while
// it gets SIGTERM. Every request the router accepted must be answered; a client reconnects only after the router said
// `Connection: close` (and then finds it no longer listening, as a load balancer would send it elsewhere).

const PODS = ['127.0.73.20', '127.0.73.21'];
const WORKERS = 8;

interface Tally {
  ok: number;
  /** Answers that carried `Connection: close`. */
  closeAnswers: number;
  /** A fresh connection refused: the router stopped listening (not a failure: nothing was accepted). */
  refused: number;
  failures: string[];
}

/** One client on one keep-alive connection, in a closed loop, until the router refuses a fresh connection. */
async function worker(port: number, tally: Tally, stopAt: () => boolean): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  try {
    while (!stopAt()) {
      const outcome = await new Promise<'ok' | 'close' | 'refused' | string>((resolve) => {
        const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', agent, headers: { 'content-type': 'application/json' } }, (res) => {
          res.resume();
          res.on('error', (err) => resolve(`response broke: ${err.message}`));
          res.on('end', () => {
            if (res.statusCode !== 200) return resolve(`status ${res.statusCode}`);
            resolve(res.headers.connection === 'close' ? 'close' : 'ok');
          });
        });
        req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code === 'ECONNREFUSED' ? 'refused' : `request failed: ${err.code ?? err.message}`));
        req.end(chatBody('llama'));
      });
      if (outcome === 'ok') tally.ok++;
      else if (outcome === 'close') {
        tally.ok++;
        tally.closeAnswers++;
      } else if (outcome === 'refused') {
        tally.refused++;
        return;
      } else tally.failures.push(outcome);
    }
  } finally {
    agent.destroy();
  }
}

describe('proxy drain on SIGTERM under keep-alive load (router process)', function () {
  this.timeout(60_000);
  let dir: string;
  let upstreams: Upstream[];
  let router: RouterProcess;

  before(async () => {
    let port: number;
    ({ port, upstreams } = await startUpstreams(PODS));
    // A little latency, so that requests are in flight whenever the signal lands.
    for (const u of upstreams) {
      const reply = jsonReply();
      u.behaviour = (req, res, seen) => {
        if (req.method !== 'POST') return void res.writeHead(404).end(); // the router's metrics scrapes
        setTimeout(() => reply(req, res, seen), 15);
      };
    }
    dir = await mkdtemp(join(tmpdir(), 'kthena-drain-'));
    await writeFile(join(dir, 'fleet.yaml'), documents(modelServerYaml('llama', { port }), modelRouteYaml('llama', 'llama'), ...PODS.map((ip, i) => podYaml(`llama-${i}`, ip, 'llama'))));
    // The drain may take 8 s at most; a clean one ends long before.
    router = await startRouterProcess(['--resources', dir], { KTHENA_DRAIN_MS: '8000' });
  });
  after(async () => {
    await router?.stop('SIGKILL');
    await Promise.all(upstreams.map((u) => u.close()));
    await rm(dir, { recursive: true, force: true });
  });

  it('answers every accepted request, says Connection: close, and exits 0 without waiting out the grace period', async () => {
    const tally: Tally = { ok: 0, closeAnswers: 0, refused: 0, failures: [] };
    const deadline = Date.now() + 20_000;
    const load = Promise.all(Array.from({ length: WORKERS }, () => worker(router.ports.http!, tally, () => Date.now() > deadline)));
    await new Promise((r) => setTimeout(r, 2_000));
    const before = tally.ok;
    expect(before, 'steady load before the signal').to.be.greaterThan(10);
    const signalled = Date.now();
    const code = await router.stop('SIGTERM');
    const drainMs = Date.now() - signalled;
    await load;
    expect(tally.failures, 'failed or reset requests').to.deep.equal([]);
    expect(code).to.equal(0);
    // Each connection learnt of the drain from an answer, then found the router gone.
    expect(tally.closeAnswers).to.be.at.least(1);
    expect(tally.refused).to.equal(WORKERS);
    expect(drainMs, 'drain time').to.be.below(6_000);
  });
});
