// How deeply a JSON text nests, found with a byte scan before parsing: JSON.parse copes with a million nested
// arrays, but everything recursive after it (JSON.stringify, prompt rendering) would overflow the stack.

import { stringEnd } from './model-splice.js';

const QUOTE = 0x22;

/** Whether arrays and objects in `raw` nest deeper than `max`; string contents are skipped. */
export function nestsDeeperThan(raw: Buffer, max: number): boolean {
  let depth = 0;
  for (let pos = 0; pos < raw.length; pos++) {
    const b = raw[pos]!;
    if (b === QUOTE) {
      const end = stringEnd(raw, pos);
      if (end < 0) return false; // unterminated: JSON.parse reports it
      pos = end - 1;
    } else if (b === 0x5b || b === 0x7b /* [ { */) {
      if (++depth > max) return true;
    } else if (b === 0x5d || b === 0x7d /* ] } */) {
      depth--;
    }
  }
  return false;
}
