import type { StringMatch } from '../resources/types.js';

const regexCache = new Map<string, RegExp>();

/** Kthena/Gateway API string match: exact, prefix, or a regex that must match the whole value. */
export function matchString(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  if (m.exact !== undefined) return value === m.exact;
  if (m.prefix !== undefined) return value.startsWith(m.prefix);
  if (m.regex !== undefined) {
    let re = regexCache.get(m.regex);
    if (!re) {
      re = new RegExp(`^(?:${m.regex})$`);
      regexCache.set(m.regex, re);
    }
    return re.test(value);
  }
  return true;
}
