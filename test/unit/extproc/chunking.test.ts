import { expect } from 'chai';
import { BodyBuffer } from '../../../src/frontends/extproc/body-buffer.js';
import { MAX_STREAMED_CHUNK_BYTES, splitChunks } from '../../../src/frontends/extproc/chunking.js';
import { streamedBodyReplies } from '../../../src/frontends/extproc/responses.js';

describe('extproc body chunking', () => {
  it('splits 150 KB into three chunks of at most 62,000 bytes, in order', () => {
    const body = Buffer.alloc(150 * 1024, 'a');
    body[0] = 0x62;
    const chunks = splitChunks(body);
    expect(MAX_STREAMED_CHUNK_BYTES).to.equal(62_000);
    expect(chunks.map((c) => c.length)).to.deep.equal([62_000, 62_000, 150 * 1024 - 124_000]);
    expect(Buffer.concat(chunks).equals(body)).to.equal(true);
  });

  it('yields exactly one empty chunk for an empty body, and no empty tail on exact multiples', () => {
    expect(splitChunks(Buffer.alloc(0)).map((c) => c.length)).to.deep.equal([0]);
    expect(splitChunks(Buffer.alloc(20), 10).map((c) => c.length)).to.deep.equal([10, 10]);
  });

  it('rejects a non-positive chunk size', () => {
    expect(() => splitChunks(Buffer.alloc(1), 0)).to.throw(RangeError);
  });

  it('marks only the last streamed reply with end_of_stream', () => {
    const replies = streamedBodyReplies('request_body', Buffer.alloc(130_000), true);
    const flags = replies.map((r) => r.request_body!.response!.body_mutation!.streamed_response!.end_of_stream);
    expect(flags).to.deep.equal([false, false, true]);
    const open = streamedBodyReplies('response_body', Buffer.alloc(10), false);
    expect(open[0]!.response_body!.response!.body_mutation!.streamed_response!.end_of_stream).to.equal(false);
  });

  it('buffers a body up to its limit and refuses what would exceed it', () => {
    const buffer = new BodyBuffer(10);
    expect(buffer.append(Buffer.from('12345'))).to.equal('ok');
    expect(buffer.append(Buffer.from('678901'))).to.equal('too_large');
    expect(buffer.append(Buffer.from('67890'))).to.equal('ok');
    expect(buffer.toBuffer().toString()).to.equal('1234567890');
    expect(buffer.size).to.equal(10);
  });
});
