// Hugging Face tokenizer.json patterns are written for Rust's regex/Oniguruma engines. Node 20's V8 lacks inline
// modifier groups, which Llama-3 and Qwen2 use for contractions: `(?i:'s|'t|...)`. We rewrite each such group into a
// plain group where every ASCII letter matches both cases.

export function toJsRegexSource(pattern: string): string {
  let out = '';
  let i = 0;
  while (i < pattern.length) {
    if (pattern.startsWith('(?i:', i)) {
      const end = groupEnd(pattern, i);
      out += '(?:' + bothCases(pattern.slice(i + 4, end)) + ')';
      i = end + 1;
    } else if (pattern[i] === '\\') {
      out += pattern.slice(i, i + 2);
      i += 2;
    } else {
      out += pattern[i];
      i++;
    }
  }
  return out;
}

/** Index of the `)` closing the group opened at `start`. */
function groupEnd(p: string, start: number): number {
  let depth = 0;
  let inClass = false;
  for (let i = start; i < p.length; i++) {
    const c = p[i];
    if (c === '\\') {
      i++;
    } else if (inClass) {
      if (c === ']') inClass = false;
    } else if (c === '[') {
      inClass = true;
    } else if (c === '(') {
      depth++;
    } else if (c === ')' && --depth === 0) {
      return i;
    }
  }
  throw new Error(`unbalanced group in tokenizer pattern: ${p}`);
}

function bothCases(body: string): string {
  let out = '';
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    if (c === '\\') {
      const esc = escapeAt(body, i);
      out += esc;
      i += esc.length - 1;
    } else if (c === '[') {
      // A class gets its case-swapped copy appended, which keeps ranges intact: [a-c] → [a-cA-C].
      const end = classEnd(body, i);
      const negated = body[i + 1] === '^';
      const inner = body.slice(i + (negated ? 2 : 1), end);
      out += `[${negated ? '^' : ''}${inner}${swapCase(inner)}]`;
      i = end;
    } else {
      out += /[a-zA-Z]/.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
    }
  }
  return out;
}

/** The escape sequence starting at `i`, including \p{...} property names. */
function escapeAt(s: string, i: number): string {
  const m = /^\\[pP]\{[^}]*\}/.exec(s.slice(i));
  return m ? m[0] : s.slice(i, i + 2);
}

function classEnd(s: string, start: number): number {
  for (let i = start + 1; i < s.length; i++) {
    if (s[i] === '\\') i++;
    else if (s[i] === ']' && i > start + 1) return i;
  }
  throw new Error(`unterminated character class in tokenizer pattern: ${s}`);
}

function swapCase(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\') {
      const esc = escapeAt(s, i);
      out += esc;
      i += esc.length - 1;
    } else {
      const c = s[i]!;
      out += c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
    }
  }
  return out;
}
