import { expect } from 'chai';
import { hex64 } from '../../../src/kv-events/block-key.js';
import { KvEventsFleet } from '../../../src/kv-events/fleet.js';
import { VllmBlockHasher } from '../../../src/kv-events/vllm-hash.js';
import { parseRequest, type ParsedRequest } from '../../../src/openai/request.js';
import { chainRoot, extendBlockHashes } from '../../../src/sim/block-hash.js';
import { parseCliArgs, startSimulator, type SimulatorHandle } from '../../../src/sim/index.js';
import { renderChat } from '../../../src/sim/prompt-template.js';
import { tokenize } from '../../../src/sim/tokenizer.js';
import { postJson } from './http-helpers.js';

// The simulator publishes vLLM KV-cache events from its real cache state; the router's subscription, hashing the
// router's own prompt text with the simulator's tokenizer, must see exactly the blocks the engine caches.

const HOST = '127.0.116.1';
const WORDS = 'alpha beta gamma delta epsilon zeta theta iota kappa lambda'.split(' ');
const text = (seed: number, n: number) => Array.from({ length: n }, (_, i) => WORDS[(i * 7 + seed * 3) % WORDS.length]! + (seed + i)).join(' ');

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('sim: KV-cache events (--kv-events-config)', function () {
  this.timeout(30_000);
  let sim: SimulatorHandle;
  let fleet: KvEventsFleet;
  const address = `${HOST}:8000`;
  const hasher = new VllmBlockHasher('sha256_cbor', '42');

  before(async () => {
    sim = await startSimulator({
      host: HOST, port: 0, model: 'm', loras: ['sql'], timeScale: 0.01, kvBlocks: 48, blockSize: 16,
      prefixCachingHashAlgo: 'sha256_cbor', hashSeed: '42',
      kvEvents: {
        enableKvCacheEvents: true, publisher: 'zmq', endpoint: 'tcp://*:5557', replayEndpoint: 'tcp://*:5558',
        bufferSteps: 10_000, hwm: 100_000, topic: '',
      },
    });
    fleet = new KvEventsFleet({
      eventsPort: 5557, replayPort: 5558, topic: '', blockSize: 16, reconnectMs: 50, reconnectMaxMs: 500,
      replayTimeoutMs: 1000, maxPendingBatches: 1000, maxBlocksPerPod: 100_000,
    });
    fleet.ensure(address, HOST);
    await until(() => fleet.isPrecise(address), 'the subscription');
  });
  after(async () => {
    fleet?.close();
    await sim?.close();
  });

  const body = (model: string, messages: Array<{ role: string; content: string }>) => ({ model, messages, max_tokens: 4 });
  /** The keys the router computes for a request: its prompt text, the engine's tokenizer, vLLM's hashing. */
  const routerKeys = (b: object, lora?: string) => {
    const parsed = parseRequest('/v1/chat/completions', Buffer.from(JSON.stringify(b))) as ParsedRequest;
    return hasher.blockHashes(tokenize(parsed.promptText), 16, lora ? [lora] : null).map(hex64);
  };
  /** How many leading blocks of the request the engine really caches. */
  const engineHeld = (messages: Array<{ role: string; content: string }>, lora: string | null) => {
    const hashes: number[] = [];
    extendBlockHashes(hashes, tokenize(renderChat(messages)), 16, chainRoot(lora));
    return sim.engine.kv.matchPrefix(hashes).length;
  };

  it("publishes the blocks a request caches, under the hashes the router computes from its prompt", async () => {
    const messages = [{ role: 'system', content: text(1, 60) }, { role: 'user', content: text(2, 20) }];
    const res = await postJson(`${sim.url}/v1/chat/completions`, body('m', messages));
    expect(res.status).to.equal(200);
    await res.text();
    const keys = routerKeys(body('m', messages));
    expect(keys.length).to.be.greaterThan(4);
    await until(() => fleet.leadingBlocks(address, keys) === keys.length, 'the stored blocks');
    expect(engineHeld(messages, null)).to.be.at.least(keys.length);
  });

  it('hashes adapter requests with the adapter name as extra key', async () => {
    const messages = [{ role: 'user', content: text(3, 60) }];
    await (await postJson(`${sim.url}/v1/chat/completions`, body('sql', messages))).text();
    const keys = routerKeys(body('sql', messages), 'sql');
    await until(() => fleet.leadingBlocks(address, keys) === keys.length, 'the adapter blocks');
    expect(fleet.leadingBlocks(address, routerKeys(body('sql', messages)))).to.equal(0);
  });

  it('publishes evictions: the view follows the cache under memory pressure', async () => {
    const first = [{ role: 'user', content: text(10, 60) }];
    await (await postJson(`${sim.url}/v1/chat/completions`, body('m', first))).text();
    const keys = routerKeys(body('m', first));
    await until(() => fleet.leadingBlocks(address, keys) === keys.length, 'the first prompt');
    // 48 blocks in all: a few other long prompts evict the first one.
    for (let i = 0; i < 6; i++) {
      await (await postJson(`${sim.url}/v1/chat/completions`, body('m', [{ role: 'user', content: text(20 + i, 60) }]))).text();
    }
    expect(engineHeld(first, null)).to.be.lessThan(keys.length);
    // The engine is idle now: once the last batch arrives, the view is the cache.
    await until(
      () => fleet.blocks(address) === sim.engine.kv.numCached && fleet.leadingBlocks(address, keys) === engineHeld(first, null),
      'the view to match the cache',
    );
  });
});

describe('sim: --kv-events-config and --prefix-caching-hash-algo', () => {
  it("reads vLLM's JSON keys with vLLM's defaults and rejects unknown ones", () => {
    const { sim } = parseCliArgs(['--kv-events-config', '{"enable_kv_cache_events": true, "publisher": "zmq", "topic": "kv"}', '--prefix-caching-hash-algo', 'sha256_cbor']);
    expect(sim.kvEvents).to.deep.equal({
      enableKvCacheEvents: true, publisher: 'zmq', endpoint: 'tcp://*:5557', replayEndpoint: null, bufferSteps: 10_000, hwm: 100_000, topic: 'kv',
    });
    expect(sim.prefixCachingHashAlgo).to.equal('sha256_cbor');
    expect(() => parseCliArgs(['--kv-events-config', '{"enable_kv_cache_events": true, "port": 1}'])).to.throw(/unknown key port/);
    expect(() => parseCliArgs(['--kv-events-config', '[1]'])).to.throw(/JSON object/);
    expect(() => parseCliArgs(['--prefix-caching-hash-algo', 'xxhash'])).to.throw(/sha256/);
  });
});
