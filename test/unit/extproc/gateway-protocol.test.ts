import { expect } from 'chai';
import {
  destinationMetadata,
  isSystemOwnedHeader,
  readServedEndpoint,
  readSubsetHint,
} from '../../../src/frontends/extproc/gateway-protocol.js';
import { fromStruct, toStruct, type JsonLike } from '../../../src/frontends/extproc/struct.js';

const hint = (value: JsonLike) => ({
  filter_metadata: { 'envoy.lb.subset_hint': toStruct({ 'x-gateway-destination-endpoint-subset': value }) },
});

describe('endpoint picker protocol names', () => {
  it('reads the subset hint as a list or a comma string', () => {
    expect(readSubsetHint(hint(['10.0.0.1:8000', ' 10.0.0.2 ']))).to.deep.equal(['10.0.0.1:8000', '10.0.0.2']);
    expect(readSubsetHint(hint('10.0.0.1:8000, 10.0.0.2:8000,'))).to.deep.equal(['10.0.0.1:8000', '10.0.0.2:8000']);
  });

  it('distinguishes an absent hint (no restriction) from an empty one (nothing eligible)', () => {
    expect(readSubsetHint(undefined)).to.equal(undefined);
    expect(readSubsetHint({ filter_metadata: {} })).to.equal(undefined);
    expect(readSubsetHint(hint([]))).to.deep.equal([]);
    expect(readSubsetHint(hint(''))).to.deep.equal([]);
  });

  it('reads the served endpoint from envoy.lb', () => {
    const metadata = { filter_metadata: { 'envoy.lb': toStruct({ 'x-gateway-destination-endpoint-served': '10.0.0.7:8000' }) } };
    expect(readServedEndpoint(metadata)).to.equal('10.0.0.7:8000');
    expect(readServedEndpoint({ filter_metadata: { 'envoy.lb': toStruct({}) } })).to.equal(undefined);
  });

  it('builds envoy.lb destination metadata', () => {
    expect(fromStruct(destinationMetadata('10.0.0.1:8000,10.0.0.2:8000'))).to.deep.equal({
      'envoy.lb': { 'x-gateway-destination-endpoint': '10.0.0.1:8000,10.0.0.2:8000' },
    });
  });

  it('treats the x-gateway-destination-endpoint family as system-owned', () => {
    expect(isSystemOwnedHeader('x-gateway-destination-endpoint')).to.equal(true);
    expect(isSystemOwnedHeader('x-gateway-destination-endpoint-served')).to.equal(true);
    expect(isSystemOwnedHeader('x-gateway-inference-objective')).to.equal(false);
  });
});
