import type { AddressInfo } from 'node:net';
import { Engine } from './engine.js';
import { Faults } from './faults.js';
import { createMetrics } from './metrics-factory.js';
import { createSimServer } from './openai-server.js';
import { resolveOptions, type SimOptions, type SimOptionsInput } from './options.js';
import { SglangDecode, SglangPrefill } from './bootstrap.js';
import { NixlConnector } from './nixl.js';
import { NO_ROLE, type PdRole } from './pd-role.js';
import { KvEventPublisher } from './kv-event-publisher.js';
import { KvEventRecorder } from './kv-event-recorder.js';
import { publishes } from './kv-events-config.js';

// Programmatic entry point: used by tests, the demo launcher and benchmarks.

export type { SimOptions, SimOptionsInput, EngineFlavour, KvConnector, DisaggregationMode } from './options.js';
export { DEFAULT_OPTIONS, resolveOptions, parseCliArgs } from './options.js';
export type { Engine, EngineSnapshot } from './engine.js';
export type { FaultMode, FaultScope } from './faults.js';

export interface SimulatorHandle {
  /** Base URL, e.g. http://127.0.0.1:8000 */
  url: string;
  host: string;
  port: number;
  options: SimOptions;
  /** Live engine: snapshot(), kv, lora, clock. */
  engine: Engine;
  /** A prefill-mode SGLang's bootstrap server port. */
  bootstrapPort?: number;
  /** Stops accepting, drops open connections and requests, stops the engine loop. */
  close(): Promise<void>;
}

export async function startSimulator(
  opts: SimOptionsInput & { host?: string; port?: number } = {},
): Promise<SimulatorHandle> {
  const { host = '127.0.0.1', port = 0, ...simOpts } = opts;
  const options = resolveOptions(simOpts);
  const metrics = createMetrics(options);
  const engine = new Engine(options, metrics);
  const faults = new Faults(options.failRate, options.seed);
  let address: AddressInfo | undefined;
  const self = () => ({ host: address!.address, port: address!.port });
  const pd = pdRole(options, engine, self);
  const server = createSimServer({ engine, metrics, faults, options, pd });
  let bootstrapPort: number | undefined;
  let kvEvents: KvEventPublisher | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    address = server.address() as AddressInfo;
    if (pd instanceof SglangPrefill) bootstrapPort = await pd.listen(address.address);
    if (publishes(options.kvEvents)) {
      kvEvents = await KvEventPublisher.start(options.kvEvents, address.address);
      const loraIds = new Map(options.loras.map((name, i) => [name, i + 1]));
      engine.recordKvEvents(new KvEventRecorder(kvEvents, options.prefixCachingHashAlgo, options.hashSeed, options.blockSize, loraIds));
    }
  } catch (err) {
    server.close();
    await pd.close();
    await kvEvents?.close();
    engine.stop();
    throw err;
  }
  const urlHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${urlHost}:${address.port}`,
    host: address.address,
    port: address.port,
    options,
    engine,
    ...(bootstrapPort !== undefined && { bootstrapPort }),
    close() {
      closing ??= Promise.all([
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
          engine.stop();
        }),
        pd.close(),
        kvEvents?.close(),
      ]).then(() => undefined);
      return closing;
    },
  };
}

function pdRole(options: SimOptions, engine: Engine, self: () => { host: string; port: number }): PdRole {
  if (options.kvConnector === 'nixl') return new NixlConnector(engine, options, self);
  if (options.disaggregationMode === 'prefill') return new SglangPrefill(options);
  if (options.disaggregationMode === 'decode') return new SglangDecode(options);
  return NO_ROLE;
}
