import { expect } from 'chai';
import { PrefixIndex } from '../../../src/scheduler/prefix/prefix-index.js';

describe('prefix index', () => {
  it('keeps only the most recent owners of a block', () => {
    const index = new PrefixIndex(100, 3);
    for (const a of ['a', 'b', 'c']) index.add([1, 2], a);
    index.add([1, 2], 'a'); // a is recent again
    index.add([1, 2], 'd'); // evicts the least recent: b
    expect([...index.match([1, 2]).keys()].sort()).to.deep.equal(['a', 'c', 'd']);
  });
});
