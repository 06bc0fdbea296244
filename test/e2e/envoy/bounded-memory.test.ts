import { expect } from 'chai';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { documents, modelRouteYaml, modelServerYaml, podYaml } from '../../support/fleet-yaml.js';
import { type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';

// Issue 12, item 5, through real Envoy (envoy/envoy.yaml, FULL_DUPLEX_STREAMED): clients whose bodies stall hold
// router memory only until the idle timeout, and together never more than the body budget.

const MiB = 1024 * 1024;

/** A POST whose body stops after `sent` of `declared` bytes; resolves with the status line Envoy answers, if any. */
function stalledPost(port: number, declared: number, sent: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0);
      resolve({ status, body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
    socket.write(
      `POST /v1/chat/completions HTTP/1.1\r\nhost: e2e\r\ncontent-type: application/json\r\n` +
        `content-length: ${declared}\r\nconnection: close\r\n\r\n{"model":"llama","messages":[],"x":"`,
    );
    socket.write(Buffer.alloc(sent, 0x61));
  });
}

describe('e2e through real Envoy: stalled bodies are bounded', function () {
  this.timeout(120_000);
  let dir: string;
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  async function metric(name: string): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    return [...text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`, 'gm'))].reduce((a, m) => a + Number(m[2]), 0);
  }

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kthena-envoy-bounded-'));
    // The pod never answers: no request here gets as far as an upstream.
    await writeFile(join(dir, 'fleet.yaml'), documents(modelServerYaml('llama', { port: 18_391 }), modelRouteYaml('llama', 'llama'), podYaml('llama-0', '127.0.0.93', 'llama')));
    await writeFile(
      join(dir, 'config.yaml'),
      'router:\n  maxBodyBytes: 2097152\n  maxBufferedBodyBytes: 4194304\n  requestIdleTimeoutMs: 1500\n',
    );
    router = await startRouterProcess(['--resources', join(dir, 'fleet.yaml'), '--config', join(dir, 'config.yaml')]);
    envoy = await startEnvoyFor(router.ports.grpc);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('ends a stalled request after the idle timeout and frees what it held', async () => {
    const t0 = Date.now();
    const reply = await stalledPost(envoy.port, 2 * MiB, 256 * 1024);
    const elapsed = Date.now() - t0;
    // Envoy fails closed on the ended ext_proc stream.
    expect(reply.status).to.be.at.least(500);
    expect(elapsed).to.be.within(1_000, 20_000);
    await until(async () => (await metric('kthena_router_extproc_streams')) === 0, 10_000, 'no open ext_proc stream');
    expect(await metric('kthena_router_buffered_request_bytes')).to.equal(0);
    expect(await metric('kthena_router_extproc_stream_failures_total\\{reason="idle_timeout"\\}')).to.be.at.least(1);
  });

  it('answers 503 at once past the body budget, and returns to zero afterwards', async () => {
    // Eight clients of 1 MiB each against a 4 MiB budget.
    const started = Date.now();
    const replies = await Promise.all(Array.from({ length: 8 }, () => stalledPost(envoy.port, 2 * MiB, MiB)));
    const refused = replies.filter((r) => r.status === 503 && r.body.includes('body_budget_exhausted'));
    expect(refused.length, JSON.stringify(replies.map((r) => r.status))).to.be.at.least(3);
    expect(replies.every((r) => r.status >= 500)).to.equal(true);
    expect(Date.now() - started).to.be.below(30_000);
    await until(async () => (await metric('kthena_router_extproc_streams')) === 0, 10_000, 'no open ext_proc stream');
    expect(await metric('kthena_router_buffered_request_bytes')).to.equal(0);
  });
});
