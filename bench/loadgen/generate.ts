import { sample } from './dist.js';
import { Rng } from './random.js';
import { words } from './text.js';
import { WorkloadError, type MultiTurnClass, type RequestClass, type SharedPrefixClass, type SingleClass, type WeightedModel, type Workload } from './workload.js';

// Turns a workload and a seed into a deterministic sequence of requests. Nothing depends on server responses: the
// assistant turns of a multi-turn history are synthetic text of the length asked for, so two runs (say, two
// scheduling policies) with the same seed send exactly the same bodies in the same order.

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface LoadRequest {
  /** Position in the sequence, from 0. */
  index: number;
  /** The request class's name, for per-class reports. */
  className: string;
  model: string;
  path: '/v1/chat/completions' | '/v1/completions';
  body: Record<string, unknown>;
  stream: boolean;
  maxTokens: number;
  /** Prompt size in words, about the same in tokens. */
  promptWords: number;
}

interface Prompt {
  messages: ChatMessage[];
  promptWords: number;
}

/** Produces the prompt of one request of a class, drawing from the shared generator. */
interface ClassSource {
  next(rng: Rng, maxTokens: number): Prompt;
}

/** The first `count` requests of the workload's sequence for `seed`. */
export function generateRequests(workload: Workload, seed: number, count: number, defaultModel?: string): LoadRequest[] {
  const out: LoadRequest[] = [];
  const it = requestStream(workload, seed, defaultModel);
  for (let i = 0; i < count; i++) out.push(it.next().value as LoadRequest);
  return out;
}

/** The workload's endless request sequence for `seed`; `defaultModel` serves classes the workload names no model for. */
export function* requestStream(workload: Workload, seed: number, defaultModel?: string): Generator<LoadRequest, never> {
  const rng = new Rng(seed);
  const classes = workload.classes.map((c) => ({
    spec: c,
    source: sourceFor(c, rng.fork(`class:${c.name}`)),
    models: modelsFor(c, workload, defaultModel),
  }));
  const weights = classes.map((c) => c.spec.weight);
  const path = workload.api === 'chat' ? '/v1/chat/completions' : '/v1/completions';
  for (let index = 0; ; index++) {
    const cls = classes[rng.weighted(weights)]!;
    const model = cls.models[rng.weighted(cls.models.map((m) => m.weight))]!.name;
    const maxTokens = sample(cls.spec.maxTokens ?? workload.maxTokens, rng);
    const prompt = cls.source.next(rng, maxTokens);
    const body: Record<string, unknown> = {
      ...workload.extraBody,
      model,
      ...(workload.api === 'chat' ? { messages: prompt.messages } : { prompt: renderCompletionPrompt(prompt.messages) }),
      max_tokens: maxTokens,
      stream: workload.stream,
      ...(workload.stream ? { stream_options: { include_usage: true } } : {}),
    };
    yield { index, className: cls.spec.name, model, path, body, stream: workload.stream, maxTokens, promptWords: prompt.promptWords };
  }
}

function modelsFor(c: RequestClass, workload: Workload, defaultModel: string | undefined): WeightedModel[] {
  const models = c.models ?? workload.models ?? (defaultModel ? [{ name: defaultModel, weight: 1 }] : undefined);
  if (!models) throw new WorkloadError(`no model for class "${c.name}": list models in the workload or pass --model`);
  return models;
}

function sourceFor(c: RequestClass, fixed: Rng): ClassSource {
  switch (c.type) {
    case 'shared-prefix':
      return sharedPrefix(c, fixed);
    case 'multi-turn':
      return multiTurn(c);
    case 'single':
      return single(c);
  }
}

/** `fixed` draws the groups' system prompts once, independently of the request order. */
function sharedPrefix(c: SharedPrefixClass, fixed: Rng): ClassSource {
  const systems = Array.from({ length: c.groups }, () => words(fixed, c.systemPromptWords));
  return {
    next(rng) {
      const system = systems[rng.int(0, c.groups - 1)]!;
      const n = sample(c.questionWords, rng);
      return {
        messages: [
          { role: 'system', content: system },
          { role: 'user', content: words(rng, n) },
        ],
        promptWords: c.systemPromptWords + n,
      };
    },
  };
}

interface Conversation {
  history: ChatMessage[];
  words: number;
  turn: number;
}

function multiTurn(c: MultiTurnClass): ClassSource {
  const conversations: Array<Conversation | undefined> = new Array(c.conversations).fill(undefined);
  const fresh = (rng: Rng): Conversation =>
    c.systemPromptWords > 0
      ? { history: [{ role: 'system', content: words(rng, c.systemPromptWords) }], words: c.systemPromptWords, turn: 0 }
      : { history: [], words: 0, turn: 0 };
  return {
    next(rng, maxTokens) {
      const slot = rng.int(0, c.conversations - 1);
      let conv = conversations[slot];
      if (!conv || conv.turn >= c.turns) conv = conversations[slot] = fresh(rng);
      const n = sample(c.userWords, rng);
      conv.history.push({ role: 'user', content: words(rng, n) });
      conv.words += n;
      const prompt = { messages: conv.history.slice(), promptWords: conv.words };
      // The answer this turn will get, as the next turn's history will carry it.
      conv.history.push({ role: 'assistant', content: words(rng, maxTokens) });
      conv.words += maxTokens;
      conv.turn++;
      return prompt;
    },
  };
}

function single(c: SingleClass): ClassSource {
  return {
    next(rng) {
      const n = sample(c.promptWords, rng);
      return { messages: [{ role: 'user', content: words(rng, n) }], promptWords: n };
    },
  };
}

/** A plain-text rendering of messages for the completions API. */
function renderCompletionPrompt(messages: ChatMessage[]): string {
  if (messages.length === 1 && messages[0]!.role === 'user') return messages[0]!.content;
  return messages.map((m) => `${m.role}: ${m.content}`).join('\n') + '\nassistant:';
}
