// The simulator's side of prefill/decode disaggregation: the engine's remote KV and held blocks, SGLang's bootstrap
// rooms, and the vLLM (NixlConnector) and SGLang prefill/decode servers talking to each other over loopback.
import { expect } from 'chai';
import { BootstrapRooms } from '../../../src/sim/bootstrap.js';
import { Engine } from '../../../src/sim/engine.js';
import { startSimulator, type SimOptionsInput, type SimulatorHandle } from '../../../src/sim/index.js';
import { parseCliArgs, resolveOptions } from '../../../src/sim/options.js';
import type { SimRequest } from '../../../src/sim/sequence.js';
import { postJson, until } from './http-helpers.js';

const seq = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

describe('sim prefill/decode disaggregation', () => {
  describe('engine', () => {
    const engines: Engine[] = [];
    afterEach(() => {
      for (const e of engines.splice(0)) e.stop();
    });
    const engine = (): Engine => {
      const e = new Engine(resolveOptions({ timeScale: 0 }));
      engines.push(e);
      return e;
    };
    const run = (e: Engine, promptTokens: number[], extra: { remotePrefixTokens?: number; holdKv?: boolean } = {}) =>
      new Promise<SimRequest>((resolve) => {
        e.submit({ promptTokens, maxTokens: 4, lora: null, sink: { onToken: () => undefined, onFinish: resolve }, ...extra });
      });

    it('computes only the last prompt token when a prefill engine sent the KV of the rest', async () => {
      const e = engine();
      const local = await run(e, seq(0, 1000));
      const remote = await run(e, seq(5000, 1000), { remotePrefixTokens: 1000 });
      expect(remote.cachedPromptTokens).to.equal(999);
      expect(remote.ttftSimMs!).to.be.lessThan(local.ttftSimMs! / 4);
      const s = e.snapshot();
      expect(s.computedPromptTokens).to.equal(1000 + 1);
      expect(s.remotePromptTokens).to.equal(999);
    });

    it('counts as remote only what its own prefix cache did not already hold', async () => {
      const e = engine();
      await run(e, seq(0, 640));
      const again = await run(e, [...seq(0, 640), ...seq(9000, 360)], { remotePrefixTokens: 1000 });
      expect(again.cachedPromptTokens).to.equal(999);
      expect(e.snapshot().remotePromptTokens).to.equal(999 - 640);
    });

    it('keeps a finished request’s blocks for the decode engine until they are released', async () => {
      const e = engine();
      const req = await run(e, seq(0, 100), { holdKv: true });
      expect(req.blocks).to.have.length(Math.ceil(100 / 16));
      expect(e.snapshot().heldBlocks).to.equal(req.blocks.length);
      expect(e.kv.usage()).to.be.greaterThan(0);
      e.releaseHeld(req);
      e.releaseHeld(req);
      expect(e.snapshot().heldBlocks).to.equal(0);
      expect(e.kv.usage()).to.equal(0);
    });
  });

  describe('bootstrap rooms', () => {
    const never = new AbortController().signal;

    it('joins a prefill and a decode request in either order; the decode learns when the KV is sent', async () => {
      const rooms = new BootstrapRooms(1000);
      const prefillFirst = rooms.awaitDecode(1, never);
      const kv1 = rooms.join(1, never);
      (await prefillFirst).sent(40);
      expect(await kv1).to.equal(40);

      const kv2 = rooms.join(2, never);
      (await rooms.awaitDecode(2, never)).sent(7);
      expect(await kv2).to.equal(7);
      expect(rooms.size).to.equal(0);
    });

    it('gives up after the timeout, with an error, and forgets the room', async () => {
      const rooms = new BootstrapRooms(30);
      const err = await rooms.awaitDecode(3, never).catch((e: unknown) => e);
      expect(err).to.include({ status: 500 });
      expect(String((err as Error).message)).to.match(/KVTransferError: no decode request joined bootstrap_room 3/);
      expect(rooms.size).to.equal(0);
    });

    it('tells the decode side when the prefill failed, and refuses a room already in use', async () => {
      const rooms = new BootstrapRooms(1000);
      const kv = rooms.join(4, never);
      const handle = await rooms.awaitDecode(4, never);
      expect(await rooms.awaitDecode(4, never).catch((e: unknown) => e)).to.include({ status: 400 });
      handle.failed('engine stopped');
      expect(await kv.catch((e: unknown) => (e as Error).message)).to.match(/bootstrap_room 4 failed: engine stopped/);
      expect(rooms.size).to.equal(0);
    });

    it('drops a waiter whose request was cancelled', async () => {
      const rooms = new BootstrapRooms(1000);
      const abort = new AbortController();
      const waiting = rooms.awaitDecode(5, abort.signal).catch((e: unknown) => e);
      abort.abort();
      expect(await waiting).to.include({ status: 499 });
      expect(rooms.size).to.equal(0);
    });
  });

  describe('options', () => {
    it('parses the P/D flags', () => {
      const cli = parseCliArgs([
        '--engine', 'sglang', '--disaggregation-mode', 'prefill', '--disaggregation-bootstrap-port', '9000',
        '--kv-transfer-timeout-ms', '1500', '--kv-transfer-ms-per-1k', '2',
      ]);
      expect(resolveOptions(cli.sim)).to.deep.include({
        engine: 'sglang', disaggregationMode: 'prefill', disaggregationBootstrapPort: 9000, kvTransferTimeoutMs: 1500, kvTransferMsPer1kTokens: 2,
      });
      expect(resolveOptions(parseCliArgs(['--kv-connector', 'nixl']).sim)).to.deep.include({ kvConnector: 'nixl', kvTransferTimeoutMs: 480_000 });
      expect(resolveOptions({ engine: 'sglang' }).kvTransferTimeoutMs).to.equal(300_000);
      expect(resolveOptions()).to.deep.include({ kvConnector: 'none', disaggregationMode: 'null' });
    });

    it('rejects options of the other engine and bad values', () => {
      expect(() => resolveOptions({ engine: 'sglang', kvConnector: 'nixl' })).to.throw(/kv-connector is a vLLM option/);
      expect(() => resolveOptions({ disaggregationMode: 'decode' })).to.throw(/disaggregation-mode is an SGLang option/);
      expect(() => parseCliArgs(['--disaggregation-mode', 'both'])).to.throw(/null, prefill or decode/);
      expect(() => parseCliArgs(['--kv-connector', 'lmcache'])).to.throw(/none or nixl/);
      expect(() => resolveOptions({ kvTransferTimeoutMs: 0 })).to.throw(/kv-transfer-timeout-ms/);
      expect(() => resolveOptions({ engine: 'sglang', disaggregationBootstrapPort: 70000 })).to.throw(/bootstrap-port/);
    });
  });

  describe('servers', () => {
    const started: SimulatorHandle[] = [];
    const sim = async (host: string, o: SimOptionsInput): Promise<SimulatorHandle> => {
      const s = await startSimulator({ host, timeScale: 0.02, ...o });
      started.push(s);
      return s;
    };
    afterEach(async () => {
      await Promise.all(started.splice(0).map((s) => s.close()));
    });
    const prompt = 'the quick brown fox jumps over the lazy dog '.repeat(30);
    const complete = async (s: SimulatorHandle, body: Record<string, unknown>) => {
      const res = await postJson(`${s.url}/v1/completions`, { prompt, max_tokens: 4, ...body });
      return { status: res.status, json: (await res.json()) as Record<string, any> };
    };
    const PREFILL_PARAMS = { do_remote_decode: true, do_remote_prefill: false, remote_engine_id: null, remote_block_ids: null, remote_host: null, remote_port: null };

    describe('vLLM with NixlConnector', () => {
      it('prefill answers with one token and kv_transfer_params; the decode reads the blocks and skips the prefill', async () => {
        const p = await sim('127.0.57.1', { kvConnector: 'nixl' });
        const d = await sim('127.0.57.2', { kvConnector: 'nixl' });
        const pre = await complete(p, { max_tokens: 1, kv_transfer_params: PREFILL_PARAMS });
        expect(pre.status).to.equal(200);
        expect(pre.json.usage.completion_tokens).to.equal(1);
        const promptTokens: number = pre.json.usage.prompt_tokens;
        const params = pre.json.kv_transfer_params;
        expect(params).to.deep.include({ do_remote_prefill: true, do_remote_decode: false, remote_host: '127.0.57.1', remote_port: p.port, tp_size: 1 });
        expect(params.remote_engine_id).to.be.a('string');
        expect(params.remote_block_ids).to.have.length(Math.ceil(promptTokens / 16));
        expect(p.engine.snapshot().heldBlocks).to.equal(params.remote_block_ids.length);

        const dec = await complete(d, { max_tokens: 6, kv_transfer_params: params });
        expect(dec.status).to.equal(200);
        expect(dec.json.usage).to.deep.include({ prompt_tokens: promptTokens, completion_tokens: 6 });
        expect(dec.json).to.not.have.property('kv_transfer_params');
        expect(d.engine.snapshot()).to.deep.include({ computedPromptTokens: 1, remotePromptTokens: promptTokens - 1 });
        expect(p.engine.snapshot().heldBlocks, 'read blocks are freed on the prefill side').to.equal(0);
      });

      it('a decode whose KV cannot be read computes the prompt itself (vLLM’s recompute policy)', async () => {
        const p = await sim('127.0.57.1', { kvConnector: 'nixl' });
        const d = await sim('127.0.57.2', { kvConnector: 'nixl' });
        const pre = await complete(p, { max_tokens: 1, kv_transfer_params: PREFILL_PARAMS });
        const dec = await complete(d, { kv_transfer_params: { ...pre.json.kv_transfer_params, remote_request_id: 'gone' } });
        expect(dec.status).to.equal(200);
        expect(d.engine.snapshot()).to.deep.include({ computedPromptTokens: pre.json.usage.prompt_tokens, remotePromptTokens: 0 });
        expect(p.engine.snapshot().heldBlocks, 'the real transfer is still waiting for its reader').to.be.greaterThan(0);
      });

      it('frees held blocks nobody read after the timeout', async () => {
        const p = await sim('127.0.57.3', { kvConnector: 'nixl', kvTransferTimeoutMs: 50 });
        const pre = await complete(p, { max_tokens: 1, kv_transfer_params: PREFILL_PARAMS });
        expect(p.engine.snapshot().heldBlocks).to.equal(pre.json.kv_transfer_params.remote_block_ids.length);
        await until(() => p.engine.snapshot().heldBlocks === 0);
        expect(p.engine.kv.usage()).to.equal(0);
      });

      it('serves kv_transfer_params as plain requests without a connector, and rejects a malformed handshake', async () => {
        const plain = await sim('127.0.57.4', {});
        const pre = await complete(plain, { max_tokens: 1, kv_transfer_params: PREFILL_PARAMS });
        expect(pre.status).to.equal(200);
        expect(pre.json).to.not.have.property('kv_transfer_params');
        expect(plain.engine.snapshot().heldBlocks).to.equal(0);
        const nixl = await sim('127.0.57.5', { kvConnector: 'nixl' });
        expect((await complete(nixl, { kv_transfer_params: 'yes' })).status).to.equal(400);
        expect((await complete(nixl, { kv_transfer_params: { do_remote_prefill: true } })).status).to.equal(400);
      });

      it('serves vLLM’s external prefix cache counters only with a connector', async () => {
        const plain = await sim('127.0.57.4', {});
        const nixl = await sim('127.0.57.5', { kvConnector: 'nixl' });
        expect(await (await fetch(`${plain.url}/metrics`)).text()).to.not.include('external_prefix_cache');
        expect(await (await fetch(`${nixl.url}/metrics`)).text()).to.include('vllm:external_prefix_cache_hits_total{');
      });
    });

    describe('SGLang prefill and decode modes', () => {
      it('pairs the two requests by bootstrap room; the decode skips the prefill', async () => {
        const p = await sim('127.0.57.11', { engine: 'sglang', disaggregationMode: 'prefill', disaggregationBootstrapPort: 0 });
        const d = await sim('127.0.57.12', { engine: 'sglang', disaggregationMode: 'decode' });
        expect(p.bootstrapPort).to.be.a('number');
        const room = 424242;
        const [pre, dec] = await Promise.all([
          complete(p, { max_tokens: 1, bootstrap_room: room }),
          complete(d, { max_tokens: 5, bootstrap_room: room, bootstrap_host: '127.0.57.11', bootstrap_port: p.bootstrapPort }),
        ]);
        expect(pre.status).to.equal(200);
        expect(dec.status).to.equal(200);
        expect(dec.json.usage.completion_tokens).to.equal(5);
        expect(d.engine.snapshot()).to.deep.include({ computedPromptTokens: 1, remotePromptTokens: pre.json.usage.prompt_tokens - 1 });
        expect(p.engine.snapshot().computedPromptTokens).to.equal(pre.json.usage.prompt_tokens);
      });

      it('a prefill whose decode never joins fails after the timeout, as SGLang does', async () => {
        const p = await sim('127.0.57.13', { engine: 'sglang', disaggregationMode: 'prefill', disaggregationBootstrapPort: 0, kvTransferTimeoutMs: 100 });
        const started = Date.now();
        const pre = await complete(p, { max_tokens: 1, bootstrap_room: 1 });
        expect(pre.status).to.equal(500);
        expect(pre.json.error.message).to.match(/KVTransferError/);
        expect(Date.now() - started).to.be.within(90, 2000);
        expect(p.engine.snapshot().computedPromptTokens, 'it was never scheduled').to.equal(0);
      });

      it('a decode whose prefill server is unreachable fails; requests without their P/D fields are refused', async () => {
        const p = await sim('127.0.57.14', { engine: 'sglang', disaggregationMode: 'prefill', disaggregationBootstrapPort: 0 });
        const d = await sim('127.0.57.15', { engine: 'sglang', disaggregationMode: 'decode', kvTransferTimeoutMs: 500 });
        const dec = await complete(d, { bootstrap_room: 9, bootstrap_host: '127.0.57.16', bootstrap_port: 1 });
        expect(dec.status).to.equal(500);
        expect(dec.json.error.message).to.match(/KVTransferError/);
        expect((await complete(p, {})).status).to.equal(400);
        expect((await complete(d, { bootstrap_room: 9 })).status).to.equal(400);
        expect((await complete(d, { bootstrap_room: -1, bootstrap_host: 'x' })).status).to.equal(400);
      });

      it('the prefill request leaving early fails the decode that waits for its KV', async () => {
        const p = await sim('127.0.57.17', { engine: 'sglang', disaggregationMode: 'prefill', disaggregationBootstrapPort: 0, timeScale: 1 });
        const d = await sim('127.0.57.18', { engine: 'sglang', disaggregationMode: 'decode' });
        const abort = new AbortController();
        const pre = postJson(`${p.url}/v1/completions`, { prompt: prompt.repeat(40), max_tokens: 1, bootstrap_room: 77 }, { signal: abort.signal }).catch(() => 'aborted');
        const dec = complete(d, { bootstrap_room: 77, bootstrap_host: '127.0.57.17', bootstrap_port: p.bootstrapPort });
        await until(() => p.engine.snapshot().running === 1);
        abort.abort();
        expect(await pre).to.equal('aborted');
        const answer = await dec;
        expect(answer.status).to.equal(500);
        expect(answer.json.error.message).to.match(/bootstrap_room 77 failed/);
      });
    });
  });
});
