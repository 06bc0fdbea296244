import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync, utimesSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Authenticator, parseAuthConfig, sha256Hex, type AuthResult } from '../../../src/filters/auth/index.js';
import { registry } from '../../../src/observability/metrics.js';

const h = (entries: Record<string, string>) => new Map(Object.entries(entries));

function expectFailure(r: AuthResult, status: number, code: string): void {
  expect(r.ok, JSON.stringify(r)).to.equal(false);
  if (!r.ok) {
    expect(r.status).to.equal(status);
    expect(r.code).to.equal(code);
  }
}

async function failures(reason: string): Promise<number> {
  const m = await registry.getSingleMetric('kthena_router_auth_failures_total')!.get();
  return m.values.filter((v) => v.labels.reason === reason).reduce((a, v) => a + v.value, 0);
}

describe('auth: API keys', () => {
  const PLAIN = 'sk-alice-0123456789abcdef';
  const HASHED = 'sk-bob-fedcba9876543210';
  const config = {
    apiKeys: {
      keys: [
        { key: PLAIN, user: 'alice', tenant: 'acme', tier: 'pro', groups: ['ml'] },
        { sha256: sha256Hex(HASHED), user: 'bob', tier: 'free', models: ['llama-3-*'] },
      ],
    },
  };
  let auth: Authenticator;
  beforeEach(() => {
    auth = new Authenticator(parseAuthConfig(config));
  });
  afterEach(() => auth.close());

  it('accepts keys in Authorization: Bearer and x-api-key', async () => {
    const a = await auth.authenticate(h({ authorization: `Bearer ${PLAIN}` }), 'gpt');
    expect(a).to.deep.equal({
      ok: true,
      // The verified key's header and the cookies are the router's: they do not go on to the pod.
      principal: { user: 'alice', tenant: 'acme', tier: 'pro', groups: ['ml'], method: 'api-key', consumedHeaders: ['authorization', 'cookie'] },
    });
    const b = await auth.authenticate(h({ 'x-api-key': HASHED }), 'llama-3-8b');
    expect(b.ok && b.principal).to.deep.include({ user: 'bob', tenant: 'bob', tier: 'free' });
    expect((await auth.authenticate(h({ authorization: `bearer   ${PLAIN}` }), 'gpt')).ok).to.equal(true);
  });

  it('keeps only digests of configured keys', () => {
    const parsed = JSON.stringify(parseAuthConfig(config));
    expect(parsed).not.to.contain(PLAIN);
    expect(parsed).to.contain(sha256Hex(PLAIN));
  });

  it('answers 401 for a missing, wrong or mis-schemed credential, counting each reason', async () => {
    const missingBefore = await failures('missing');
    const r = await auth.authenticate(h({}), 'm');
    expectFailure(r, 401, 'missing_credentials');
    expect(!r.ok && r.headers['www-authenticate']).to.match(/^Bearer /);
    expect(await failures('missing')).to.equal(missingBefore + 1);

    const invalidBefore = await failures('invalid_api_key');
    expectFailure(await auth.authenticate(h({ authorization: 'Bearer sk-nope' }), 'm'), 401, 'invalid_api_key');
    expectFailure(await auth.authenticate(h({ 'x-api-key': PLAIN.slice(0, -1) }), 'm'), 401, 'invalid_api_key');
    expect(await failures('invalid_api_key')).to.equal(invalidBefore + 2);

    expectFailure(await auth.authenticate(h({ authorization: `Basic ${PLAIN}` }), 'm'), 401, 'invalid_request');
  });

  it('never puts the presented key in the failure', async () => {
    const r = await auth.authenticate(h({ authorization: 'Bearer sk-secret-attempt-42' }), 'm');
    expect(JSON.stringify(r)).not.to.contain('sk-secret-attempt-42');
  });

  it('answers 403 when the key is not allowed for the model', async () => {
    expectFailure(await auth.authenticate(h({ 'x-api-key': HASHED }), 'gpt-4o'), 403, 'model_not_allowed');
  });

  it('applies authorization rules by user, group and tier', async () => {
    const a = new Authenticator(
      parseAuthConfig({
        ...config,
        authorization: {
          defaultPolicy: 'deny',
          rules: [
            { models: ['llama-3-*'], tiers: ['free', 'pro'] },
            { models: ['gpt-*'], groups: ['ml'] },
          ],
        },
      }),
    );
    try {
      expect((await a.authenticate(h({ 'x-api-key': PLAIN }), 'gpt-4o')).ok).to.equal(true);
      expect((await a.authenticate(h({ 'x-api-key': HASHED }), 'llama-3-70b')).ok).to.equal(true);
      expectFailure(await a.authenticate(h({ 'x-api-key': PLAIN }), 'mistral'), 403, 'model_not_allowed');
    } finally {
      a.close();
    }
  });

  it('optional mode lets anonymous callers through, still rejecting bad keys', async () => {
    const a = new Authenticator(parseAuthConfig({ ...config, mode: 'optional', anonymous: { tier: 'free' } }));
    try {
      expect(await a.authenticate(h({}), 'm')).to.deep.equal({
        ok: true,
        principal: { user: 'anonymous', tenant: 'anonymous', tier: 'free', groups: [], method: 'anonymous' },
      });
      expectFailure(await a.authenticate(h({ 'x-api-key': 'bad' }), 'm'), 401, 'invalid_api_key');
    } finally {
      a.close();
    }
    const noAuth = new Authenticator(parseAuthConfig(undefined));
    expect((await noAuth.authenticate(h({}), 'm')).ok).to.equal(true);
    noAuth.close();
  });

  it('optional mode sends anonymous callers to 401 for models the rules keep for known users', async () => {
    const a = new Authenticator(
      parseAuthConfig({ ...config, mode: 'optional', authorization: { rules: [{ models: ['private-*'], users: ['alice'] }] } }),
    );
    try {
      expectFailure(await a.authenticate(h({}), 'private-model'), 401, 'missing_credentials');
      expect((await a.authenticate(h({}), 'public-model')).ok).to.equal(true);
    } finally {
      a.close();
    }
  });

  describe('keys from mounted files and Kubernetes Secrets', () => {
    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'kthena-keys-'));
    });
    afterEach(() => rmSync(dir, { recursive: true, force: true }));

    it('loads a YAML key file and picks up changes', async () => {
      const file = join(dir, 'keys.yaml');
      writeFileSync(file, `- key: sk-file-one\n  user: carol\n  tier: pro\n`);
      const a = new Authenticator(parseAuthConfig({ apiKeys: { files: [file], fileRefreshSeconds: 1 } }));
      try {
        const r = await a.authenticate(h({ 'x-api-key': 'sk-file-one' }), 'm');
        expect(r.ok && r.principal.user).to.equal('carol');
        writeFileSync(file, `- sha256: ${sha256Hex('sk-file-two')}\n  user: dave\n`);
        utimesSync(file, new Date(), new Date(Date.now() + 5000));
        await new Promise((res) => setTimeout(res, 1200));
        expectFailure(await a.authenticate(h({ 'x-api-key': 'sk-file-one' }), 'm'), 401, 'invalid_api_key');
        const d = await a.authenticate(h({ 'x-api-key': 'sk-file-two' }), 'm');
        expect(d.ok && d.principal.user).to.equal('dave');
        // A broken edit keeps the previous keys.
        writeFileSync(file, 'not: [a, list');
        utimesSync(file, new Date(), new Date(Date.now() + 10_000));
        await new Promise((res) => setTimeout(res, 1200));
        expect((await a.authenticate(h({ 'x-api-key': 'sk-file-two' }), 'm')).ok).to.equal(true);
      } finally {
        a.close();
      }
    });

    it('reads keys from Secrets through getSecret, following updates', async () => {
      let data: Record<string, string> | undefined = { erin: 'sk-secret-erin\n' };
      const a = new Authenticator(
        parseAuthConfig({ apiKeys: { secrets: [{ namespace: 'team-a', name: 'keys', tier: 'gold', models: ['llama*'] }] } }),
        { getSecret: (ns, name) => (ns === 'team-a' && name === 'keys' ? data : undefined) },
      );
      try {
        const r = await a.authenticate(h({ authorization: 'Bearer sk-secret-erin' }), 'llama-3');
        expect(r.ok && r.principal).to.deep.include({ user: 'erin', tier: 'gold' });
        expectFailure(await a.authenticate(h({ 'x-api-key': 'sk-secret-erin' }), 'gpt-4o'), 403, 'model_not_allowed');
        data = { frank: 'sk-secret-frank' };
        expectFailure(await a.authenticate(h({ 'x-api-key': 'sk-secret-erin' }), 'llama-3'), 401, 'invalid_api_key');
        expect((await a.authenticate(h({ 'x-api-key': 'sk-secret-frank' }), 'llama-3')).ok).to.equal(true);
        data = undefined;
        expectFailure(await a.authenticate(h({ 'x-api-key': 'sk-secret-frank' }), 'llama-3'), 401, 'invalid_api_key');
      } finally {
        a.close();
      }
    });
  });
});
