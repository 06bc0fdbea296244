import { expect } from 'chai';
import { connect as netConnect, type Socket } from 'node:net';
import { type EnvoyProcess, startEnvoyFor } from '../../support/envoy-process.js';
import { closedLoop, failedCount } from '../../support/closed-loop.js';
import { startRouterProcess, until, type RouterProcess } from '../../support/router-process.js';
import { chat, startSimFleet, type SimFleet } from './fleet.js';

// A mass client disconnect behind Envoy (envoy/envoy.yaml): thousands of requests whose bodies are still arriving,
// so each holds an open ext_proc stream, are cancelled at once. Envoy resets every one of those streams. Node's
// HTTP/2 stack closes a connection that receives more than 1,000 resets in a burst, which would fail every other
// request on it; the router's cap of 500 open streams per connection and the bootstrap's 500 requests per
// connection keep each connection under that, so the requests in flight beside the burst must all succeed.

const PORT = 18_760;
const IPS = ['127.0.0.211', '127.0.0.212'];
const BURST = Number(process.env.KTHENA_MASS_CANCEL_STREAMS ?? 10_000);

describe('e2e through real Envoy: a burst of cancels does not cost the other requests', function () {
  this.timeout(300_000);
  let fleet: SimFleet;
  let router: RouterProcess;
  let envoy: EnvoyProcess;

  before(async () => {
    fleet = await startSimFleet(IPS, PORT);
    router = await startRouterProcess(['--resources', fleet.dir]);
    envoy = await startEnvoyFor(router.ports.grpc);
  });

  after(async () => {
    await envoy?.stop();
    await router?.stop();
    await fleet?.stop();
  });

  it(`${BURST} clients gone at once while other requests are in flight: those all succeed`, async () => {
    // Each client its own HTTP/1.1 connection (a chunked body, half sent), so the request stays in its body phase
    // with its ext_proc stream open until the client finishes or goes away.
    const park = (i: number): { socket: Socket; rest: string } => {
      const socket = netConnect(envoy.port, '127.0.0.1');
      socket.on('error', () => {});
      const body = JSON.stringify(chat(i));
      socket.write(`POST /v1/chat/completions HTTP/1.1\r\nhost: envoy\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n`);
      socket.write(`14\r\n${body.slice(0, 20)}\r\n`);
      const rest = body.slice(20);
      return { socket, rest: `${rest.length.toString(16)}\r\n${rest}\r\n0\r\n\r\n` };
    };
    // The survivors open first, so their ext_proc streams share connections with the burst's.
    const survivors = Array.from({ length: 50 }, (_, i) => park(i));
    const burst: Socket[] = [];
    for (let i = 0; i < BURST; i++) {
      burst.push(park(50 + i).socket);
      if (i % 500 === 499) await new Promise((r) => setTimeout(r, 50));
    }
    await until(async () => (await openStreams()) >= BURST + 50, 120_000, `${BURST + 50} ext_proc streams open`);

    for (const socket of burst) socket.destroy();
    await new Promise((r) => setTimeout(r, 500));
    const statuses = await Promise.all(
      survivors.map(
        ({ socket, rest }) =>
          new Promise<string>((resolve) => {
            let head = '';
            socket.on('data', (d) => {
              head += d;
              const m = /^HTTP\/1\.1 (\d{3})/.exec(head);
              if (m) resolve(m[1]!);
            });
            socket.on('close', () => resolve('closed'));
            socket.write(rest);
          }),
      ),
    );
    for (const { socket } of survivors) socket.destroy();
    expect(statuses.filter((st) => st !== '200'), `statuses: ${statuses.join(',')}`).to.deep.equal([]);
    await until(async () => (await openStreams()) === 0, 60_000, 'every cancelled ext_proc stream closed');
    const after = await closedLoop({ url: envoy.url, total: 200, concurrency: 16, body: chat });
    expect(failedCount(after)).to.equal(0);
  });

  async function openStreams(): Promise<number> {
    const text = await (await fetch(`http://127.0.0.1:${router.ports.metrics}/metrics`)).text();
    return Number(/^kthena_router_extproc_streams (\S+)$/m.exec(text)?.[1] ?? NaN);
  }
});
