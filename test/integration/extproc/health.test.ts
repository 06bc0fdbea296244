import * as grpc from '@grpc/grpc-js';
import { expect } from 'chai';
import { pino } from 'pino';
import {
  EXT_PROC_SERVICE,
  ExtProcServer,
  HealthState,
  ServingStatus,
  loadProtos,
  startHealthServer,
  type HealthServer,
} from '../../../src/frontends/extproc/index.js';
import { TestPipeline, waitFor } from './support/test-pipeline.js';

interface HealthStub extends grpc.Client {
  Check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: number }) => void): void;
  Watch(req: { service: string }): grpc.ClientReadableStream<{ status: number }>;
}

function healthClient(address: string): HealthStub {
  return new (loadProtos().HealthClient)(address, grpc.credentials.createInsecure()) as unknown as HealthStub;
}

function check(client: HealthStub, service: string): Promise<number | string> {
  return new Promise((resolve) => {
    client.Check({ service }, (err, res) => resolve(err ? grpc.status[err.code] : res!.status));
  });
}

describe('gRPC health (grpc.health.v1)', () => {
  let server: ExtProcServer;
  let healthOnly: HealthServer;
  let main: HealthStub;
  let separate: HealthStub;

  beforeEach(async () => {
    server = new ExtProcServer(new HealthState());
    const { port } = await server.start({
      host: '127.0.0.1',
      port: 0,
      pipeline: new TestPipeline(),
      maxBodyBytes: 1024,
      logger: pino({ level: 'silent' }),
    });
    healthOnly = await startHealthServer({ host: '127.0.0.1', port: 0, health: server.health });
    main = healthClient(`127.0.0.1:${port}`);
    separate = healthClient(`127.0.0.1:${healthOnly.port}`);
  });

  afterEach(async () => {
    main.close();
    separate.close();
    await healthOnly.stop();
    await server.stop(100);
  });

  it('answers liveness SERVING and readiness NOT_SERVING until ready, on both ports', async () => {
    for (const client of [main, separate]) {
      expect(await check(client, 'liveness')).to.equal(ServingStatus.SERVING);
      for (const service of ['', 'readiness', EXT_PROC_SERVICE, 'inference-extension']) {
        expect(await check(client, service)).to.equal(ServingStatus.NOT_SERVING);
      }
    }
    server.setReady(true);
    for (const client of [main, separate]) {
      for (const service of ['', 'readiness', EXT_PROC_SERVICE, 'inference-extension', 'liveness']) {
        expect(await check(client, service)).to.equal(ServingStatus.SERVING);
      }
    }
  });

  it('fails Check for an unknown service with NOT_FOUND', async () => {
    expect(await check(main, 'no.such.Service')).to.equal('NOT_FOUND');
    expect(await check(separate, 'no.such.Service')).to.equal('NOT_FOUND');
  });

  it('streams status changes to Watch, and SERVICE_UNKNOWN for unknown names', async () => {
    const seen: number[] = [];
    const unknown: number[] = [];
    const watch = separate.Watch({ service: 'readiness' });
    const watchUnknown = separate.Watch({ service: 'nope' });
    watch.on('data', (m) => seen.push(m.status));
    watchUnknown.on('data', (m) => unknown.push(m.status));
    watch.on('error', () => undefined);
    watchUnknown.on('error', () => undefined);
    await waitFor(() => seen.length === 1 && unknown.length === 1);
    server.setReady(true);
    await waitFor(() => seen.length === 2);
    server.setReady(true); // no change, no message
    server.setReady(false);
    await waitFor(() => seen.length === 3);
    expect(seen).to.deep.equal([ServingStatus.NOT_SERVING, ServingStatus.SERVING, ServingStatus.NOT_SERVING]);
    expect(unknown).to.deep.equal([ServingStatus.SERVICE_UNKNOWN]);
    watch.cancel();
    watchUnknown.cancel();
  });

  it('turns readiness NOT_SERVING while draining and keeps liveness SERVING', async () => {
    server.setReady(true);
    const stopping = server.stop(2_000);
    expect(await check(separate, 'readiness')).to.equal(ServingStatus.NOT_SERVING);
    expect(await check(separate, EXT_PROC_SERVICE)).to.equal(ServingStatus.NOT_SERVING);
    expect(await check(separate, 'liveness')).to.equal(ServingStatus.SERVING);
    server.setReady(true); // a late "synced" must not revive a draining server
    expect(await check(separate, '')).to.equal(ServingStatus.NOT_SERVING);
    await stopping;
  });
});
