/** Text of `length` or a little more, drawn from `alphabet` by a seeded linear congruential generator (reproducible). */
export function seededText(alphabet: readonly string[], seed: number, length: number): string {
  let x = seed;
  let s = '';
  while (s.length < length) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    s += alphabet[x % alphabet.length];
  }
  return s;
}
