import { expect } from 'chai';
import type { ResponseTransform } from '../../../src/core/exchange.js';
import { AnthropicResponse } from '../../../src/providers/anthropic/adapter.js';
import { CredentialRedactor, REDACTED } from '../../../src/providers/credential-redactor.js';
import { PROVIDER_AUTH_FAILED, ProviderErrorGuard } from '../../../src/providers/error-guard.js';

const KEY = 'sk-proj-Abc123_def-456ghiJKLwxyz';
const json = new Map([['content-type', 'application/json']]);

/** Feeds a body through the transform in chunks of `size` bytes; returns what the client gets. */
function run(t: ResponseTransform, status: number, body: string, size = 7): { change: unknown; out: string } {
  const change = t.start?.(status, json);
  const bytes = Buffer.from(body);
  const parts: Buffer[] = [];
  for (let i = 0; i < bytes.length; i += size) parts.push(t.body(bytes.subarray(i, i + size), false));
  parts.push(t.body(Buffer.alloc(0), true));
  return { change, out: Buffer.concat(parts).toString() };
}

describe('CredentialRedactor', () => {
  const r = new CredentialRedactor(KEY);

  it('replaces the raw key, Bearer form, and JSON/URL-escaped forms', () => {
    expect(r.redact(`key ${KEY} and "Bearer ${KEY}"`)).to.equal(`key ${REDACTED} and "Bearer ${REDACTED}"`);
    const odd = new CredentialRedactor('a/b"c+d=e&f');
    expect(odd.redact(JSON.stringify({ m: 'a/b"c+d=e&f' }))).to.equal(`{"m":"${REDACTED}"}`);
    expect(odd.redact(`?key=${encodeURIComponent('a/b"c+d=e&f')}`)).to.equal(`?key=${REDACTED}`);
  });

  it('replaces masked forms showing a prefix and the last four characters', () => {
    for (const masked of ['sk-proj-****************wxyz', 'sk-...wxyz', 'sk-…wxyz', '***wxyz', 'sk-proj-Abc1...wxyz']) {
      expect(r.redact(`Incorrect API key provided: ${masked}. See docs.`)).to.equal(`Incorrect API key provided: ${REDACTED}. See docs.`);
    }
  });

  it('leaves masks of other keys and ordinary ellipses alone', () => {
    for (const text of ['sk-...abcd', 'sk-other-****wxyz', 'wait... what', 'xx-...wxyz']) expect(r.redact(text)).to.equal(text);
  });
});

describe('ProviderErrorGuard', () => {
  it('passes 2xx bodies through untouched (same buffers), even when they quote the key', () => {
    const g = new ProviderErrorGuard(undefined, KEY, 64);
    expect(g.start(200, json)).to.equal(undefined);
    const chunk = Buffer.from(`echo ${KEY}`);
    expect(g.body(chunk, false)).to.equal(chunk);
  });

  it('redacts the key from an error body split across chunks, and asks to drop content-length', () => {
    const { change, out } = run(new ProviderErrorGuard(undefined, KEY, 1024), 400, JSON.stringify({ error: { message: `bad key ${KEY} (Bearer ${KEY})` } }), 5);
    expect(change).to.deep.equal({ removeHeaders: ['content-length'] });
    expect(out).not.to.contain(KEY);
    expect(JSON.parse(out).error.message).to.equal(`bad key ${REDACTED} (Bearer ${REDACTED})`);
  });

  it('truncates an error body at the cap, without leaking a key that straddles it', () => {
    const cap = 100;
    const body = 'x'.repeat(cap - 10) + KEY + 'y'.repeat(10_000);
    const { out } = run(new ProviderErrorGuard(undefined, KEY, cap), 500, body, 64);
    expect(Buffer.byteLength(out)).to.equal(cap);
    expect(out).to.equal('x'.repeat(cap - 10) + REDACTED);
    for (let n = 4; n <= KEY.length; n++) expect(out).not.to.contain(KEY.slice(0, n));
  });

  for (const status of [401, 403]) {
    it(`maps ${status} to a generic 502 with the provider status header and none of the provider's text`, () => {
      const { change, out } = run(new ProviderErrorGuard(undefined, KEY, 1024), status, JSON.stringify({ error: { message: `Incorrect API key provided: sk-proj-****wxyz` } }));
      expect(change).to.deep.equal({
        status: 502,
        setHeaders: { 'content-type': 'application/json', 'x-kthena-provider-status': String(status) },
        removeHeaders: ['content-length'],
        body: PROVIDER_AUTH_FAILED,
      });
      expect(JSON.parse(out)).to.deep.equal({
        error: { message: "the model provider rejected the router's credentials", type: 'server_error', param: null, code: 'provider_auth_failed' },
      });
    });
  }

  it('redacts before the Anthropic adapter translates the error', () => {
    const g = new ProviderErrorGuard(new AnthropicResponse('claude', false), KEY, 1024);
    const { out } = run(g, 400, JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: `key ${KEY} cannot do that` } }));
    expect(JSON.parse(out).error).to.deep.include({ message: `key ${REDACTED} cannot do that`, code: 'invalid_request_error' });
  });
});
