import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { parseDist, type Dist } from './dist.js';

// A workload file describes what requests look like (a weighted mix of request classes) and, optionally, how to send
// them (run defaults the command line can override). See docs/loadgen.md for the format.

export interface WeightedModel {
  name: string;
  weight: number;
}

interface ClassBase {
  /** Label in reports; defaults to `<type>-<index>`. */
  name: string;
  /** Relative share of the requests. */
  weight: number;
  /** Model names with weights (e.g. a LoRA mix); overrides the workload's. */
  models?: WeightedModel[];
  /** Output length (max_tokens); overrides the workload's. */
  maxTokens?: Dist;
}

/** N groups of requests, each group sharing a long system prompt; each request asks its own question. */
export interface SharedPrefixClass extends ClassBase {
  type: 'shared-prefix';
  groups: number;
  systemPromptWords: number;
  questionWords: Dist;
}

/** Conversations whose history grows turn by turn; `conversations` of them run interleaved. */
export interface MultiTurnClass extends ClassBase {
  type: 'multi-turn';
  conversations: number;
  turns: number;
  systemPromptWords: number;
  userWords: Dist;
}

/** Independent prompts of a given length (short or long). */
export interface SingleClass extends ClassBase {
  type: 'single';
  promptWords: Dist;
}

export type RequestClass = SharedPrefixClass | MultiTurnClass | SingleClass;

/** Run settings a workload may suggest; command-line options win. */
export interface RunDefaults {
  rate?: number;
  concurrency?: number;
  durationSeconds?: number;
  requests?: number;
  /** Gamma shape of inter-arrival times: 1 = Poisson, < 1 burstier, > 1 smoother. */
  burstiness?: number;
}

export interface Workload {
  name: string;
  api: 'chat' | 'completions';
  stream: boolean;
  models?: WeightedModel[];
  maxTokens: Dist;
  /** Extra fields merged into every request body (e.g. `ignore_eos: true` for vLLM). */
  extraBody: Record<string, unknown>;
  classes: RequestClass[];
  run: RunDefaults;
}

/** Used when no workload file is given: short single prompts. */
export const DEFAULT_WORKLOAD: Workload = {
  name: 'default',
  api: 'chat',
  stream: true,
  maxTokens: { min: 32, max: 128 },
  extraBody: {},
  classes: [{ type: 'single', name: 'single', weight: 1, promptWords: { min: 50, max: 200 } }],
  run: {},
};

export class WorkloadError extends Error {
  override readonly name = 'WorkloadError';
}

export async function loadWorkloadFile(path: string): Promise<Workload> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new WorkloadError(`cannot read workload ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = path.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new WorkloadError(`workload ${path} is not valid ${path.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseWorkload(raw, path);
}

/** Validates a parsed workload document. */
export function parseWorkload(raw: unknown, source = 'workload'): Workload {
  try {
    return parseDocument(raw, source);
  } catch (err) {
    if (err instanceof WorkloadError) throw err;
    throw new WorkloadError(`${source}: ${(err as Error).message}`);
  }
}

function parseDocument(raw: unknown, source: string): Workload {
  const o = object(raw, 'workload');
  const api = o.api ?? 'chat';
  if (api !== 'chat' && api !== 'completions') throw new Error('api must be "chat" or "completions"');
  const classesRaw = o.classes;
  if (!Array.isArray(classesRaw) || classesRaw.length === 0) throw new Error('classes must be a non-empty list');
  return {
    name: typeof o.name === 'string' ? o.name : source,
    api,
    stream: bool(o.stream ?? true, 'stream'),
    models: o.models === undefined ? undefined : models(o.models, 'models'),
    maxTokens: o.maxTokens === undefined ? DEFAULT_WORKLOAD.maxTokens : parseDist(o.maxTokens, 'maxTokens'),
    extraBody: o.extraBody === undefined ? {} : object(o.extraBody, 'extraBody'),
    classes: classesRaw.map((c, i) => requestClass(c, i)),
    run: o.run === undefined ? {} : runDefaults(object(o.run, 'run')),
  };
}

function requestClass(raw: unknown, i: number): RequestClass {
  const where = `classes[${i}]`;
  const o = object(raw, where);
  const type = o.type;
  const base = {
    name: typeof o.name === 'string' ? o.name : `${String(type)}-${i}`,
    weight: positive(o.weight ?? 1, `${where}.weight`),
    ...(o.models !== undefined ? { models: models(o.models, `${where}.models`) } : {}),
    ...(o.maxTokens !== undefined ? { maxTokens: parseDist(o.maxTokens, `${where}.maxTokens`) } : {}),
  };
  switch (type) {
    case 'shared-prefix':
      return {
        ...base,
        type,
        groups: integer(o.groups, `${where}.groups`, 1),
        systemPromptWords: integer(o.systemPromptWords, `${where}.systemPromptWords`, 1),
        questionWords: parseDist(o.questionWords ?? { min: 20, max: 60 }, `${where}.questionWords`),
      };
    case 'multi-turn':
      return {
        ...base,
        type,
        conversations: integer(o.conversations, `${where}.conversations`, 1),
        turns: integer(o.turns, `${where}.turns`, 1),
        systemPromptWords: integer(o.systemPromptWords ?? 0, `${where}.systemPromptWords`, 0),
        userWords: parseDist(o.userWords ?? { min: 20, max: 80 }, `${where}.userWords`),
      };
    case 'single':
      return { ...base, type, promptWords: parseDist(o.promptWords, `${where}.promptWords`) };
    default:
      throw new Error(`${where}.type must be shared-prefix, multi-turn or single`);
  }
}

function runDefaults(o: Record<string, unknown>): RunDefaults {
  const out: RunDefaults = {};
  if (o.rate !== undefined) out.rate = positive(o.rate, 'run.rate');
  if (o.concurrency !== undefined) out.concurrency = integer(o.concurrency, 'run.concurrency', 1);
  if (o.duration !== undefined) out.durationSeconds = positive(o.duration, 'run.duration');
  if (o.requests !== undefined) out.requests = integer(o.requests, 'run.requests', 1);
  if (o.burstiness !== undefined) out.burstiness = positive(o.burstiness, 'run.burstiness');
  return out;
}

function models(raw: unknown, where: string): WeightedModel[] {
  if (typeof raw === 'string') return [{ name: raw, weight: 1 }];
  if (!Array.isArray(raw) || raw.length === 0) throw new Error(`${where} must be a model name or a non-empty list`);
  return raw.map((m, i) => {
    if (typeof m === 'string') return { name: m, weight: 1 };
    const o = object(m, `${where}[${i}]`);
    if (typeof o.name !== 'string' || o.name === '') throw new Error(`${where}[${i}].name must be a non-empty string`);
    return { name: o.name, weight: positive(o.weight ?? 1, `${where}[${i}].weight`) };
  });
}

function object(raw: unknown, where: string): Record<string, unknown> {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new Error(`${where} must be a mapping`);
  return raw as Record<string, unknown>;
}

function bool(raw: unknown, where: string): boolean {
  if (typeof raw !== 'boolean') throw new Error(`${where} must be true or false`);
  return raw;
}

function positive(raw: unknown, where: string): number {
  if (typeof raw !== 'number' || !Number.isFinite(raw) || raw <= 0) throw new Error(`${where} must be a number > 0`);
  return raw;
}

function integer(raw: unknown, where: string, min: number): number {
  if (typeof raw !== 'number' || !Number.isInteger(raw) || raw < min) throw new Error(`${where} must be an integer >= ${min}`);
  return raw;
}
