import { expect } from 'chai';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../../src/config/errors.js';
import type { UpstreamPolicy } from '../../../src/core/types.js';
import { Datastore } from '../../../src/datastore/datastore.js';
import { retryAfterMs, RetryPlan } from '../../../src/frontends/proxy/retry.js';
import { parseOutlierConfig, parseProvidersConfig } from '../../../src/providers/config.js';
import { providerHeaders } from '../../../src/providers/headers.js';
import { resolveProvider, type ResolvedProvider } from '../../../src/providers/resolve.js';
import { loadProviderSettings } from '../../../src/providers/settings.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { Resource } from '../../../src/resources/types.js';

const providerObj = (spec: object, name = 'p') => ({ apiVersion: 'networking.serving.volcano.sh/v1alpha1', kind: 'ExternalModelProvider', metadata: { name }, spec });
const secretObj = (data: Record<string, string>) => ({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'k' }, stringData: data });

function store(objects: object[]): Datastore {
  const ds = new Datastore();
  ds.sinkFor('t').replace(['ExternalModelProvider', 'Secret'], objects.map((o) => parseResource(o) as Resource));
  return ds;
}

describe('provider resolution and credentials', () => {
  const auth = (scheme: string) => ({ scheme, secretRef: { name: 'k', key: 'key' } });

  it('resolves address, authority and the Secret value; unusable without the Secret key', () => {
    const ds = store([providerObj({ providerType: 'OpenAI', baseURL: 'https://api.example.com:8443/v1', auth: auth('Bearer') }), secretObj({ key: ' s3cret\n' })]);
    const p = resolveProvider(ds, 'default', 'p') as ResolvedProvider;
    expect(p).to.deep.include({ key: 'provider:default/p', ref: 'default/p', address: 'api.example.com:8443', authority: 'api.example.com:8443', credential: 's3cret' });
    expect(resolveProvider(store([providerObj({ providerType: 'OpenAI', baseURL: 'https://a.example', auth: auth('Bearer') })]), 'default', 'p')).to.have.property('unavailable').that.contains('Secret k');
    expect(resolveProvider(ds, 'default', 'missing')).to.have.property('unavailable');
  });

  it('sets Bearer or x-api-key, lets the provider headers override protocol defaults, removes client credentials', () => {
    const ds = store([
      providerObj({ providerType: 'Anthropic', baseURL: 'https://api.anthropic.com', auth: auth('APIKey'), headers: { 'Anthropic-Version': '2024-01-01', Authorization: 'ignored' } }),
      secretObj({ key: 'sk-ant' }),
    ]);
    const h = providerHeaders(resolveProvider(ds, 'default', 'p') as ResolvedProvider, { 'anthropic-version': '2023-06-01' }, '/v1/messages');
    expect(h.set).to.include({ 'x-api-key': 'sk-ant', 'anthropic-version': '2024-01-01', ':authority': 'api.anthropic.com', ':path': '/v1/messages', 'x-kthena-provider': 'default/p', 'accept-encoding': 'identity' });
    expect(h.remove).to.include.members(['cookie', 'openai-organization', 'x-forwarded-for', 'anthropic-beta']);
    expect(h.remove).not.to.include.members(['x-api-key', 'anthropic-version', 'authorization']);

    const bearer = store([providerObj({ providerType: 'OpenAI', baseURL: 'https://api.openai.com/v1', auth: auth('Bearer') }), secretObj({ key: 'sk-1' })]);
    const b = providerHeaders(resolveProvider(bearer, 'default', 'p') as ResolvedProvider, {}, '/v1/chat/completions');
    expect(b.set.authorization).to.equal('Bearer sk-1');
    expect(b.remove).to.include('x-api-key').and.not.include('authorization');
  });
});

describe('provider and outlier configuration', () => {
  it('has defaults and names the key it rejects', () => {
    expect(parseProvidersConfig(undefined)).to.deep.include({ timeoutMs: 600_000, retry: { attempts: 2, intervalMs: 250, maxIntervalMs: 5000 } });
    expect(parseOutlierConfig(undefined)).to.deep.equal({ enabled: true, consecutiveFailures: 5, baseEjectionMs: 30_000, maxEjectionMs: 300_000 });
    expect(() => parseProvidersConfig({ retry: { attempts: -1 } })).to.throw(ConfigError, 'providers.retry.attempts');
    expect(() => parseOutlierConfig({ baseEjectionMs: 10_000, maxEjectionMs: 5_000 })).to.throw(ConfigError, 'outlierDetection.maxEjectionMs');
    expect(() => parseProvidersConfig('x')).to.throw(ConfigError, 'providers must be a mapping');
  });

  it('loads the CA bundle at start and refuses a missing or non-PEM file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'kthena-ca-'));
    try {
      const pem = join(dir, 'ca.pem');
      writeFileSync(pem, '-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n');
      expect(loadProviderSettings(parseProvidersConfig({ caFile: pem })).extraCa).to.contain('BEGIN CERTIFICATE');
      writeFileSync(pem, 'not a certificate');
      expect(() => loadProviderSettings(parseProvidersConfig({ caFile: pem }))).to.throw(ConfigError, 'no PEM');
      expect(() => loadProviderSettings(parseProvidersConfig({ caFile: join(dir, 'nope.pem') }))).to.throw(ConfigError, 'cannot read');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('proxy retries for providers', () => {
  const policy: UpstreamPolicy = { scheme: 'https', timeoutMs: 0, retryAttempts: 3, retryIntervalMs: 100, maxRetryIntervalMs: 1000, retryOnRateLimit: true };

  it('backs off exponentially up to the cap, waiting at least a Retry-After within it', () => {
    const plan = new RetryPlan(policy, 1);
    expect([0, 1, 2, 3, 4].map((a) => plan.delayMs(a))).to.deep.equal([100, 200, 400, 800, 1000]);
    expect(plan.delayMs(0, 700)).to.equal(700);
    expect(plan.delayMs(0, 60_000)).to.equal(1000);
    expect(new RetryPlan({ ...policy, maxRetryIntervalMs: undefined }, 1).delayMs(3, 5000), 'pods: constant interval').to.equal(100);
  });

  it('retries 429 only for rate-limit-aware policies, and never a refused certificate', () => {
    expect(new RetryPlan(policy, 1).retryAfterStatus(429, 0)).to.equal(true);
    expect(new RetryPlan({ ...policy, retryOnRateLimit: false }, 1).retryAfterStatus(429, 0)).to.equal(false);
    const cert = Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT' });
    expect(new RetryPlan(policy, 1).retryAfterError(cert, 0)).to.equal(false);
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('3')).to.equal(3000);
    expect(retryAfterMs(new Date(10_000).toUTCString(), 4_000)).to.equal(6000);
    expect(retryAfterMs('soon')).to.equal(undefined);
    expect(retryAfterMs(undefined)).to.equal(undefined);
  });
});
