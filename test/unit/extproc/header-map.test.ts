import { expect } from 'chai';
import { fromHeaderMap, overwriteHeader, toHeaderMap } from '../../../src/frontends/extproc/header-map.js';
import { loadProtos } from '../../../src/frontends/extproc/proto.js';
import { HeaderAppendAction, type ProcessingRequest } from '../../../src/frontends/extproc/wire.js';

describe('extproc header map conversion', () => {
  it('prefers raw_value and falls back to value', () => {
    const map = fromHeaderMap({
      headers: [
        { key: 'x-raw', raw_value: Buffer.from('from-raw'), value: 'ignored' },
        { key: 'x-value', value: 'from-value' },
        { key: 'x-empty-raw', raw_value: Buffer.alloc(0), value: 'fallback' },
      ],
    });
    expect(map.get('x-raw')).to.equal('from-raw');
    expect(map.get('x-value')).to.equal('from-value');
    expect(map.get('x-empty-raw')).to.equal('fallback');
  });

  it('lower-cases names and joins repeated headers with ", "', () => {
    const map = fromHeaderMap({
      headers: [
        { key: 'Accept', raw_value: Buffer.from('a') },
        { key: 'ACCEPT', raw_value: Buffer.from('b') },
      ],
    });
    expect([...map.entries()]).to.deep.equal([['accept', 'a, b']]);
  });

  it('reads header maps decoded from the wire (defaults filled in)', () => {
    const method = loadProtos().extProcService.Process!;
    const encoded = method.requestSerialize({
      request_headers: { headers: toHeaderMap([['X-Model', 'llama'], [':path', '/v1/chat/completions']]) },
    } satisfies ProcessingRequest);
    const decoded = method.requestDeserialize(encoded) as ProcessingRequest;
    expect(decoded.request_headers!.headers!.headers![0]!.value).to.equal('');
    const map = fromHeaderMap(decoded.request_headers!.headers);
    expect(map.get('x-model')).to.equal('llama');
    expect(map.get(':path')).to.equal('/v1/chat/completions');
  });

  it('handles a missing header map', () => {
    expect(fromHeaderMap(null).size).to.equal(0);
    expect(fromHeaderMap({}).size).to.equal(0);
  });

  it('writes mutations with raw_value only and OVERWRITE_IF_EXISTS_OR_ADD', () => {
    const option = overwriteHeader('X-Gateway-Destination-Endpoint', '10.0.0.1:8000');
    expect(option.header.key).to.equal('x-gateway-destination-endpoint');
    expect(option.header.raw_value!.toString()).to.equal('10.0.0.1:8000');
    expect(option.header.value).to.equal(undefined);
    expect(option.append_action).to.equal(HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD);
  });
});
