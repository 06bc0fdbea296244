import { expect } from 'chai';
import type { UpstreamPolicy } from '../../../src/core/types.js';
import { originFormPath, upstreamTarget } from '../../../src/frontends/proxy/upstream-target.js';

const base: UpstreamPolicy = { scheme: 'http', timeoutMs: 0, retryAttempts: 0, retryIntervalMs: 0 };

describe('proxy upstream target', () => {
  it('addresses a pod by scheme and ip:port with the client path', () => {
    expect(upstreamTarget(base, '10.0.0.1:8000', '/v1/completions?x=1')).to.deep.equal({ origin: 'http://10.0.0.1:8000', path: '/v1/completions?x=1' });
    expect(upstreamTarget({ ...base, scheme: 'https' }, '[fd00::1]:8443', '/v1/models').origin).to.equal('https://[fd00::1]:8443');
  });

  it('sends provider traffic to the base URL, prefixing its path only when the client path lacks it', () => {
    const p = { ...base, baseUrl: 'https://api.example.com/v1/' };
    expect(upstreamTarget(p, 'api.example.com:443', '/v1/chat/completions')).to.deep.equal({ origin: 'https://api.example.com', path: '/v1/chat/completions' });
    const q = { ...base, baseUrl: 'https://gw.example.com/openai' };
    expect(upstreamTarget(q, 'gw.example.com:443', '/v1/chat/completions').path).to.equal('/openai/v1/chat/completions');
  });

  it('accepts origin-form and absolute-form request targets only', () => {
    expect(originFormPath('/v1/models')).to.equal('/v1/models');
    expect(originFormPath('http://router/v1/models?a=b')).to.equal('/v1/models?a=b');
    expect(originFormPath('*')).to.equal(undefined);
    expect(originFormPath('example.com:443')).to.equal(undefined);
    expect(originFormPath(undefined)).to.equal(undefined);
  });
});
