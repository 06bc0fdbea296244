import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { ListenError, listening } from '../../../src/frontends/listen-error.js';

describe('listening: bind failures name the flag', () => {
  let taken: Server;
  let port: number;
  before(async () => {
    taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    port = (taken.address() as AddressInfo).port;
  });
  after(() => taken.close());

  it('turns a Node EADDRINUSE into a ListenError', async () => {
    const http = createServer();
    const err = await listening('the proxy', '--http-port', '127.0.0.1', port, () =>
      new Promise((resolve, reject) => http.once('error', reject).listen(port, '127.0.0.1', () => resolve(http))),
    ).catch((e: unknown) => e);
    expect(err).to.be.instanceOf(ListenError);
    expect((err as Error).message).to.equal(`cannot listen on 127.0.0.1:${port} for the proxy (--http-port): address already in use`);
  });

  it('reads the code out of grpc-js bind errors, which carry it only in the message', async () => {
    const server = new grpc.Server();
    const err = await listening('ext_proc', '--grpc-port', '127.0.0.1', port, () =>
      new Promise((resolve, reject) =>
        server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
      ),
    ).catch((e: unknown) => e);
    server.forceShutdown();
    expect((err as Error).message).to.match(/for ext_proc \(--grpc-port\): address already in use$/);
  });

  it('rethrows anything else as it is', async () => {
    const boom = new TypeError('not a bind failure');
    const err = await listening('metrics', '--metrics-port', '127.0.0.1', 1, () => Promise.reject(boom)).catch((e: unknown) => e);
    expect(err).to.equal(boom);
  });
});
