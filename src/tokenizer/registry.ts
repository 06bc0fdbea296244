import { HuggingFaceTokenizer } from './huggingface.js';
import { openAiEncoding, openAiEncodingForModel } from './tiktoken.js';
import type { Encoding } from './types.js';

// Model name → tokenizer. Models with a registered tokenizer.json use it; every other model uses an OpenAI encoding
// (o200k_base for the GPT-4o family and o-series, cl100k_base otherwise), which is a close stand-in for most modern
// byte-level BPE vocabularies.

export interface TokenizerRegistration {
  /** Exact model name or a glob with `*` (e.g. `meta-llama/Llama-3*`). */
  modelPattern: string;
  path: string;
}

interface Entry extends TokenizerRegistration {
  matcher: RegExp;
  tokenizer: HuggingFaceTokenizer;
}

const entries: Entry[] = [];
const byModel = new Map<string, Encoding>();

/** Loads a tokenizer.json now (throws on a missing or unsupported file) and uses it for matching models. */
export function registerTokenizerFile(modelPattern: string, path: string): void {
  if (!modelPattern) throw new Error('registerTokenizerFile: modelPattern must not be empty');
  const tokenizer = HuggingFaceTokenizer.fromFile(path);
  const entry = { modelPattern, path, matcher: globToRegExp(modelPattern), tokenizer };
  const existing = entries.findIndex((e) => e.modelPattern === modelPattern);
  if (existing >= 0) entries[existing] = entry;
  else entries.push(entry);
  byModel.clear();
}

/** Forgets every registered tokenizer file (tests, config reload). */
export function clearTokenizerRegistrations(): void {
  entries.length = 0;
  byModel.clear();
}

export function tokenizerRegistrations(): TokenizerRegistration[] {
  return entries.map(({ modelPattern, path }) => ({ modelPattern, path }));
}

/** The tokenizer for a model; the first registration whose pattern matches wins. */
export function encodingFor(model: string): Encoding {
  let enc = byModel.get(model);
  if (!enc) {
    enc = entries.find((e) => e.matcher.test(model))?.tokenizer ?? openAiEncoding(openAiEncodingForModel(model));
    if (byModel.size > 10_000) byModel.clear();
    byModel.set(model, enc);
  }
  return enc;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.split('*').map((s) => s.replace(/[\\^$.+?()[\]{}|/]/g, '\\$&')).join('.*');
  return new RegExp(`^${body}$`);
}
