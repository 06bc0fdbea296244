import type { Rng } from './random.js';

// Prompt text made of common English words. Each of these words is a single token for the usual BPE tokenizers
// (GPT, Llama, Qwen) when preceded by a space, so N words is about N tokens.

const VOCABULARY =
  'the of and to in is was for on that with as by at from his it an were are which this be or has had not but ' +
  'one their first new after also who they two her she been other when there all its into more only time over ' +
  'would most some such used many then these may made about while during where under both later can city year ' +
  'part world known between through three being each out well since became people state name same long several ' +
  'found before around early high small back use game group work day series called area film like government ' +
  'own life following could great left family members even music second our end best down him them last way ' +
  'line school among place history number four any until old take system point because public local based power ' +
  'large water road much make another team five little war within against different often support field just ' +
  'order home main country national next open play data model light river north south east west book every ' +
  'still right level story house given';

const WORDS = [...new Set(VOCABULARY.split(' '))];

/** `count` space-separated words drawn from `rng`. */
export function words(rng: Rng, count: number): string {
  const out = new Array<string>(count);
  for (let i = 0; i < count; i++) out[i] = WORDS[Math.floor(rng.next() * WORDS.length)]!;
  return out.join(' ');
}
