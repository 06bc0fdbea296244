import { expect } from 'chai';
import { generateRequests, type ChatMessage } from '../../../bench/loadgen/generate.js';
import { parseWorkload, type Workload } from '../../../bench/loadgen/workload.js';

const mixed: Workload = parseWorkload({
  name: 'mixed',
  models: [
    { name: 'base', weight: 3 },
    { name: 'lora-a', weight: 1 },
  ],
  maxTokens: { min: 10, max: 50 },
  classes: [
    { type: 'shared-prefix', name: 'sp', groups: 4, systemPromptWords: 300, questionWords: 10, weight: 2 },
    { type: 'multi-turn', name: 'mt', conversations: 3, turns: 4, systemPromptWords: 20, userWords: { min: 5, max: 15 } },
    { type: 'single', name: 'short', promptWords: { min: 5, max: 20 } },
  ],
});

const messages = (r: { body: Record<string, unknown> }) => r.body.messages as ChatMessage[];

describe('loadgen request generation', () => {
  it('is deterministic for a seed, and a longer run extends a shorter one', () => {
    const a = generateRequests(mixed, 42, 60);
    const b = generateRequests(mixed, 42, 120);
    expect(b.slice(0, 60)).to.deep.equal(a);
    const c = generateRequests(mixed, 43, 60);
    expect(JSON.stringify(c)).not.to.equal(JSON.stringify(a));
  });

  it('gives each shared-prefix group one long system prompt, distinct between groups', () => {
    const sp = generateRequests(mixed, 7, 400).filter((r) => r.className === 'sp');
    const systems = new Set(sp.map((r) => messages(r)[0]!.content));
    expect(systems.size).to.equal(4);
    for (const s of systems) expect(s.split(' ')).to.have.length(300);
    const questions = new Set(sp.map((r) => messages(r)[1]!.content));
    expect(questions.size).to.be.greaterThan(sp.length * 0.9);
    expect(sp.every((r) => r.promptWords === 310)).to.equal(true);
  });

  it('grows multi-turn histories turn by turn, answers included', () => {
    const mt = generateRequests(mixed, 3, 300).filter((r) => r.className === 'mt');
    // Follow one conversation by its system prompt.
    const system = messages(mt[0]!)[0]!.content;
    const convo = mt.filter((r) => messages(r)[0]!.content === system);
    expect(convo.length).to.be.within(2, 4);
    for (let i = 1; i < convo.length; i++) {
      const prev = messages(convo[i - 1]!);
      const cur = messages(convo[i]!);
      expect(cur.slice(0, prev.length)).to.deep.equal(prev);
      expect(cur[prev.length]!.role).to.equal('assistant');
      expect(cur[prev.length]!.content.split(' ')).to.have.length(convo[i - 1]!.maxTokens);
      expect(cur.at(-1)!.role).to.equal('user');
      expect(convo[i]!.promptWords).to.be.greaterThan(convo[i - 1]!.promptWords);
    }
    // Never beyond the configured number of turns.
    const longest = Math.max(...mt.map((r) => messages(r).filter((m) => m.role === 'user').length));
    expect(longest).to.equal(4);
  });

  it('follows the class and model weights', () => {
    const reqs = generateRequests(mixed, 11, 4000);
    const share = (pred: (r: (typeof reqs)[number]) => boolean) => reqs.filter(pred).length / reqs.length;
    expect(share((r) => r.className === 'sp')).to.be.closeTo(0.5, 0.035);
    expect(share((r) => r.className === 'short')).to.be.closeTo(0.25, 0.035);
    expect(share((r) => r.model === 'lora-a')).to.be.closeTo(0.25, 0.035);
    for (const r of reqs) expect(r.maxTokens).to.be.within(10, 50);
  });

  it('builds streaming OpenAI bodies with usage requested, or completions prompts', () => {
    const [chat] = generateRequests(mixed, 1, 1);
    expect(chat!.path).to.equal('/v1/chat/completions');
    expect(chat!.body).to.include({ stream: true, max_tokens: chat!.maxTokens });
    expect(chat!.body.stream_options).to.deep.equal({ include_usage: true });
    const completions = parseWorkload({ api: 'completions', stream: false, models: 'm', extraBody: { ignore_eos: true }, classes: [{ type: 'single', promptWords: 5 }] });
    const [c] = generateRequests(completions, 1, 1);
    expect(c!.path).to.equal('/v1/completions');
    expect(c!.body).to.include({ model: 'm', stream: false, ignore_eos: true });
    expect((c!.body.prompt as string).split(' ')).to.have.length(5);
    expect(c!.body).not.to.have.property('stream_options');
  });

  it('needs a model from the workload or the caller', () => {
    const w = parseWorkload({ classes: [{ type: 'single', promptWords: 5 }] });
    expect(() => generateRequests(w, 1, 1)).to.throw(/no model/);
    expect(generateRequests(w, 1, 1, 'fallback')[0]!.model).to.equal('fallback');
  });
});
