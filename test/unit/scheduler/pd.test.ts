import { expect } from 'chai';
import type { Endpoint } from '../../../src/datastore/endpoint.js';
import { parseSchedulerConfig } from '../../../src/scheduler/config.js';
import {
  concurrentPhases,
  decodeBody,
  newBootstrapRoom,
  pdProtocol,
  prefillBody,
} from '../../../src/scheduler/pd/convention.js';
import { pickPrefillDecode } from '../../../src/scheduler/pd/pick.js';
import { Scheduler } from '../../../src/scheduler/scheduler.js';
import type { SchedulingRequest } from '../../../src/scheduler/types.js';
import { endpoint, seeded } from '../../support/builders.js';

const pdGroup = { groupKey: 'pd-group', prefillLabels: { role: 'prefill' }, decodeLabels: { role: 'decode' } };
const pod = (ip: string, role: string, group: string | undefined, running = 0): Endpoint =>
  endpoint(`${ip}:8000`, { running }, { labels: { role, ...(group === undefined ? {} : { 'pd-group': group }) } });
const byLoad = (eps: Endpoint[]) => [...eps].sort((a, b) => a.state.metrics!.running - b.state.metrics!.running);

describe('prefill/decode disaggregation', () => {
  it('picks the best decode endpoint and the best prefill endpoint of its group', () => {
    const eps = [
      pod('10.0.0.1', 'prefill', 'g1', 1),
      pod('10.0.0.2', 'prefill', 'g1', 0),
      pod('10.0.0.3', 'decode', 'g1', 5),
      pod('10.0.0.4', 'prefill', 'g2', 0),
      pod('10.0.0.5', 'decode', 'g2', 2),
    ];
    const pair = pickPrefillDecode(eps, pdGroup, byLoad)!;
    expect(pair.decode.address).to.equal('10.0.0.5:8000');
    expect(pair.prefill.address).to.equal('10.0.0.4:8000');
    eps[4]!.state.metrics!.running = 9;
    const pair2 = pickPrefillDecode(eps, pdGroup, byLoad)!;
    expect([pair2.decode.address, pair2.prefill.address]).to.deep.equal(['10.0.0.3:8000', '10.0.0.2:8000']);
  });

  it('skips decode endpoints whose group has no prefill endpoint, and pods without the group label', () => {
    const eps = [
      pod('10.0.0.1', 'decode', 'lonely', 0),
      pod('10.0.0.2', 'decode', undefined, 0),
      pod('10.0.0.3', 'prefill', undefined, 0),
      pod('10.0.0.4', 'decode', 'g', 7),
      pod('10.0.0.5', 'prefill', 'g', 3),
    ];
    const pair = pickPrefillDecode(eps, pdGroup, byLoad)!;
    expect([pair.decode.address, pair.prefill.address]).to.deep.equal(['10.0.0.4:8000', '10.0.0.5:8000']);
    expect(pickPrefillDecode(eps.slice(0, 3), pdGroup, byLoad)).to.equal(undefined);
  });

  it('tries the next decode endpoint when the scorer filters out every prefill endpoint of a group', () => {
    const eps = [pod('10.0.0.1', 'decode', 'a'), pod('10.0.0.2', 'prefill', 'a'), pod('10.0.0.3', 'decode', 'b', 4), pod('10.0.0.4', 'prefill', 'b')];
    const noA = (list: Endpoint[]) => byLoad(list).filter((e) => e.address !== '10.0.0.2:8000');
    const pair = pickPrefillDecode(eps, pdGroup, noA)!;
    expect([pair.decode.address, pair.prefill.address]).to.deep.equal(['10.0.0.3:8000', '10.0.0.4:8000']);
  });

  it('ranks with the normal scheduler', () => {
    const s = new Scheduler(parseSchedulerConfig({ plugins: { Score: { enabled: ['least-request'] } } }), seeded(1));
    const req: SchedulingRequest = { requestId: 'r', model: 'm', promptText: 'hi', headers: new Map(), group: 'g' };
    const eps = [pod('10.0.0.1', 'prefill', 'g', 4), pod('10.0.0.2', 'prefill', 'g', 1), pod('10.0.0.3', 'decode', 'g', 0)];
    const pair = pickPrefillDecode(eps, pdGroup, (list) => s.schedule(req, list).ranked)!;
    expect([pair.decode.address, pair.prefill.address]).to.deep.equal(['10.0.0.3:8000', '10.0.0.2:8000']);
  });

  describe('engine conventions', () => {
    const body = { model: 'm', messages: [{ role: 'user', content: 'hi' }], stream: true, stream_options: { include_usage: true }, max_tokens: 200 };

    it('maps engine and kvConnector to a protocol', () => {
      expect(pdProtocol('SGLang', undefined)).to.equal('sglang');
      expect(pdProtocol('vLLM', 'nixl')).to.equal('nixl');
      expect(pdProtocol('vLLM', 'mooncake')).to.equal('nixl');
      expect(pdProtocol('vLLM', 'lmcache')).to.equal('http');
      expect(pdProtocol('vLLM', undefined)).to.equal('http');
      expect(concurrentPhases('sglang')).to.equal(true);
      expect(concurrentPhases('nixl')).to.equal(false);
    });

    it('makes the prefill request unstreamed with one output token', () => {
      const p = prefillBody(body, 'http', '/v1/chat/completions');
      expect(p).to.deep.equal({ model: 'm', messages: body.messages, max_tokens: 1 });
      expect(body.stream).to.equal(true); // the client's body is untouched
      expect(prefillBody({ ...body, max_completion_tokens: 50 }, 'http', '/v1/chat/completions').max_completion_tokens).to.equal(1);
      expect(prefillBody({ model: 'm', input: 'hi' }, 'http', '/v1/responses')).to.deep.equal({ model: 'm', input: 'hi', max_output_tokens: 1 });
    });

    it('follows vLLM NIXL’s kv_transfer_params handshake', () => {
      const p = prefillBody(body, 'nixl', '/v1/chat/completions');
      expect(p.kv_transfer_params).to.deep.include({ do_remote_decode: true, do_remote_prefill: false });
      const params = { do_remote_prefill: true, remote_engine_id: 'e1', remote_block_ids: [1, 2], remote_host: '10.0.0.1', remote_port: 5600 };
      const d = decodeBody(body, 'nixl', { prefillResponse: { id: 'x', kv_transfer_params: params } });
      expect(d).to.deep.equal({ ...body, kv_transfer_params: params });
      expect(() => decodeBody(body, 'nixl', { prefillResponse: {} })).to.throw(/kv_transfer_params/);
    });

    it('joins SGLang’s two requests by a bootstrap room and names the prefill host', () => {
      const room = newBootstrapRoom(seeded(4));
      expect(Number.isSafeInteger(room)).to.equal(true);
      expect(prefillBody(body, 'sglang', '/v1/chat/completions', room).bootstrap_room).to.equal(room);
      expect(decodeBody(body, 'sglang', { prefillHost: '10.0.0.1', bootstrapRoom: room })).to.deep.equal({
        ...body,
        bootstrap_host: '10.0.0.1',
        bootstrap_room: room,
      });
      expect(() => prefillBody(body, 'sglang', '/v1/chat/completions')).to.throw(/bootstrap room/);
      expect(() => decodeBody(body, 'sglang', { bootstrapRoom: room })).to.throw(/prefill host/);
    });
  });
});
