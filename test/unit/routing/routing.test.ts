import { expect } from 'chai';
import { matchRoute } from '../../../src/routing/match.js';
import { matchString } from '../../../src/routing/string-match.js';
import { pickWeighted } from '../../../src/routing/weighted.js';
import { parseResource } from '../../../src/resources/parse.js';
import type { ModelRouteResource, TargetModel } from '../../../src/resources/types.js';
import { mr, seeded } from '../../support/builders.js';

const route = (name: string, spec: Record<string, unknown>, created: string) =>
  parseResource(mr(name, spec, { creationTimestamp: created })) as ModelRouteResource;

const input = (model: string, headers: Record<string, string> = {}, path = '/v1/chat/completions') => ({
  model,
  path,
  headers: new Map(Object.entries(headers)),
});

describe('routing', () => {
  it('string match: exact, prefix and whole-value regex', () => {
    expect(matchString({ exact: 'a' }, 'a')).to.equal(true);
    expect(matchString({ exact: 'a' }, 'ab')).to.equal(false);
    expect(matchString({ prefix: '/v1/' }, '/v1/chat')).to.equal(true);
    expect(matchString({ regex: 'gold|silver' }, 'gold')).to.equal(true);
    expect(matchString({ regex: 'gold' }, 'goldfish')).to.equal(false);
    expect(matchString({ exact: 'a' }, undefined)).to.equal(false);
  });

  it('matches by model name and by LoRA adapter, and says which', () => {
    const routes = [
      route('r', { modelName: 'llama', loraAdapters: ['sql-lora'], rules: [{ targetModels: [{ modelServerName: 'a' }] }] }, '2026-01-01T00:00:00Z'),
    ];
    expect(matchRoute(routes, input('llama')).match?.viaLora).to.equal(false);
    expect(matchRoute(routes, input('sql-lora')).match?.viaLora).to.equal(true);
    expect(matchRoute(routes, input('other'))).to.deep.equal({ claimed: false });
  });

  it('first matching rule wins; headers and uri are ANDed; no match is claimed but unmatched', () => {
    const routes = [
      route(
        'r',
        {
          modelName: 'llama',
          rules: [
            {
              name: 'gold',
              modelMatch: { headers: { 'x-tier': { exact: 'gold' } }, uri: { prefix: '/v1/chat' } },
              targetModels: [{ modelServerName: 'big' }],
            },
            { name: 'completions', modelMatch: { uri: { exact: '/v1/completions' } }, targetModels: [{ modelServerName: 'small' }] },
          ],
        },
        '2026-01-01T00:00:00Z',
      ),
    ];
    expect(matchRoute(routes, input('llama', { 'x-tier': 'gold' })).match?.rule.name).to.equal('gold');
    expect(matchRoute(routes, input('llama', { 'x-tier': 'gold' }, '/v1/completions')).match?.rule.name).to.equal('completions');
    const none = matchRoute(routes, input('llama', { 'x-tier': 'bronze' }));
    expect(none).to.deep.equal({ match: undefined, claimed: true });
  });

  it('body.model match restricts a rule to one of the route names', () => {
    const routes = [
      route(
        'r',
        {
          modelName: 'base',
          loraAdapters: ['lora-a'],
          rules: [
            { name: 'lora', modelMatch: { body: { model: 'lora-a' } }, targetModels: [{ modelServerName: 'x' }] },
            { name: 'rest', targetModels: [{ modelServerName: 'y' }] },
          ],
        },
        '2026-01-01T00:00:00Z',
      ),
    ];
    expect(matchRoute(routes, input('lora-a')).match?.rule.name).to.equal('lora');
    expect(matchRoute(routes, input('base')).match?.rule.name).to.equal('rest');
  });

  it('weighted targets split traffic in proportion (canary 90/10)', () => {
    const targets: TargetModel[] = [
      { modelServerName: 'stable', weight: 90 },
      { modelServerName: 'canary', weight: 10 },
      { modelServerName: 'off', weight: 0 },
    ];
    const rnd = seeded(7);
    const counts: Record<string, number> = {};
    for (let i = 0; i < 10_000; i++) {
      const t = pickWeighted(targets, rnd)!;
      counts[t.modelServerName!] = (counts[t.modelServerName!] ?? 0) + 1;
    }
    expect(counts.off).to.equal(undefined);
    expect(counts.canary! / 10_000).to.be.within(0.08, 0.12);
  });

  it('weighted pick falls through excluded targets and handles all-zero weights', () => {
    const a = { modelServerName: 'a', weight: 100 };
    const b = { modelServerName: 'b', weight: 0 };
    expect(pickWeighted([a, b], Math.random, new Set([a]))).to.equal(b);
    expect(pickWeighted([b], Math.random)).to.equal(b);
    expect(pickWeighted([a], Math.random, new Set([a]))).to.equal(undefined);
  });
});
