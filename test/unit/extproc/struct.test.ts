import { expect } from 'chai';
import { loadProtos } from '../../../src/frontends/extproc/proto.js';
import { fromStruct, metadataValue, toStruct, type JsonLike } from '../../../src/frontends/extproc/struct.js';
import type { ProcessingResponse } from '../../../src/frontends/extproc/wire.js';

const roundTripOverWire = (struct: ReturnType<typeof toStruct>) => {
  const method = loadProtos().extProcService.Process!;
  const decoded = method.responseDeserialize(
    method.responseSerialize({ request_headers: {}, dynamic_metadata: struct } satisfies ProcessingResponse),
  ) as ProcessingResponse;
  return decoded.dynamic_metadata;
};

describe('extproc struct conversion', () => {
  const sample: Record<string, JsonLike> = {
    'envoy.lb': { 'x-gateway-destination-endpoint': '10.0.0.1:8000,10.0.0.2:8000' },
    list: ['a', 1, true, null, { nested: [] }],
    number: 2.5,
    flag: false,
    nothing: null,
  };

  it('round-trips JSON-like values through Struct', () => {
    expect(fromStruct(toStruct(sample))).to.deep.equal(sample);
  });

  it('survives protobuf encoding (camelCase Value fields)', () => {
    expect(fromStruct(roundTripOverWire(toStruct(sample)))).to.deep.equal(sample);
  });

  it('shows why snake_case Value fields are wrong: they are dropped on encode', () => {
    const wrong = { fields: { key: { string_value: 'lost' } } } as unknown as ReturnType<typeof toStruct>;
    expect(fromStruct(roundTripOverWire(wrong))).to.deep.equal({ key: null });
  });

  it('skips undefined fields and reads missing structs as empty', () => {
    expect(toStruct({ a: undefined, b: 'x' }).fields).to.have.keys(['b']);
    expect(fromStruct(null)).to.deep.equal({});
  });

  it('reads one key of a metadata namespace', () => {
    const metadata = { filter_metadata: { 'envoy.lb': toStruct({ served: '10.0.0.9:8000' }) } };
    expect(metadataValue(metadata, 'envoy.lb', 'served')).to.equal('10.0.0.9:8000');
    expect(metadataValue(metadata, 'envoy.lb', 'other')).to.equal(undefined);
    expect(metadataValue(metadata, 'other.ns', 'served')).to.equal(undefined);
    expect(metadataValue(null, 'envoy.lb', 'served')).to.equal(undefined);
  });
});
