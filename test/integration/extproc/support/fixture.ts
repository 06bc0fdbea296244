import { pino } from 'pino';
import { ExtProcServer, type ExtProcServerOptions } from '../../../../src/frontends/extproc/index.js';
import { EnvoyClient } from '../../../support/envoy-client.js';
import { TestPipeline } from './test-pipeline.js';

export interface Fixture {
  server: ExtProcServer;
  pipeline: TestPipeline;
  client: EnvoyClient;
  address: string;
  certificate?: string;
  close(): Promise<void>;
}

/** An ExtProcServer on an ephemeral loopback port with a TestPipeline, and an Envoy-like client for it. */
export async function startFixture(overrides: Partial<ExtProcServerOptions> = {}): Promise<Fixture> {
  const pipeline = new TestPipeline();
  const server = new ExtProcServer();
  const started = await server.start({
    host: '127.0.0.1',
    port: 0,
    pipeline,
    maxBodyBytes: 256 * 1024,
    // A generous Envoy message_timeout keeps these tests steady on a busy machine; the timeout tests
    // set it back to Envoy's 200 ms default.
    messageTimeoutMs: 1_000,
    logger: pino({ level: 'silent' }),
    ...overrides,
  });
  const address = `127.0.0.1:${started.port}`;
  const client = new EnvoyClient(address, started.certificate ? { certificate: started.certificate } : {});
  return {
    server,
    pipeline,
    client,
    address,
    ...(started.certificate !== undefined && { certificate: started.certificate }),
    close: async () => {
      client.close();
      await server.stop(100);
    },
  };
}

export const CHAT = { model: 'plain-model', messages: [{ role: 'user', content: 'hello' }] };
