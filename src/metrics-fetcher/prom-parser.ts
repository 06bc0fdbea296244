// Prometheus text exposition format 0.0.4 parser (also accepts the OpenMetrics subset engines emit: `# EOF`,
// exemplars, float timestamps). Hand-rolled scanning over the whole text instead of per-line regexes because a
// router may parse thousands of scrapes a second; bad lines are counted and skipped, never thrown on.

export type MetricType =
  | 'counter'
  | 'gauge'
  | 'histogram'
  | 'gaugehistogram'
  | 'summary'
  | 'info'
  | 'stateset'
  | 'untyped';

export type Labels = Record<string, string>;

export interface Sample {
  /** Full sample name, e.g. `foo_bucket` inside family `foo`. */
  name: string;
  labels: Labels;
  value: number;
  /** Timestamp as written (ms since epoch in 0.0.4, seconds in OpenMetrics). */
  timestamp?: number;
}

export interface MetricFamily {
  name: string;
  type: MetricType;
  help?: string;
  samples: Sample[];
}

export type Families = Map<string, MetricFamily>;

export interface ParseResult {
  families: Families;
  /** Lines of kept families that could not be parsed and were skipped. */
  malformedLines: number;
}

export interface ParseOptions {
  /** Keep only families for which this returns true; other lines are skipped before their labels are parsed. */
  keepFamily?: (familyName: string) => boolean;
  /** Skip histogram `_bucket` samples: consumers of interval means need only `_sum` and `_count`. */
  skipBuckets?: boolean;
}

const KNOWN_TYPES = new Set<string>([
  'counter',
  'gauge',
  'histogram',
  'gaugehistogram',
  'summary',
  'info',
  'stateset',
  'untyped',
]);

/** Sample-name suffixes that belong to a family of the given type. */
const SUFFIXES: Record<MetricType, readonly string[]> = {
  counter: ['_total', '_created'],
  gauge: [],
  histogram: ['_bucket', '_sum', '_count', '_created'],
  gaugehistogram: ['_bucket', '_gsum', '_gcount'],
  summary: ['_sum', '_count', '_created'],
  info: ['_info'],
  stateset: [],
  untyped: [],
};
const ALL_SUFFIXES = [...new Set(Object.values(SUFFIXES).flat())];

const isBlank = (c: number): boolean => c === 32 || c === 9;
const isLabelStart = (c: number): boolean => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95; // a-z A-Z _
const isLabelChar = (c: number): boolean => isLabelStart(c) || (c >= 48 && c <= 57);
const isNameStart = (c: number): boolean => isLabelStart(c) || c === 58; // metric names may contain ':'
const isNameChar = (c: number): boolean => isLabelChar(c) || c === 58;

/**
 * Builds a `keepFamily` predicate for the given metric names. A name matches its family whether the exposition
 * declares it with or without `_total` (counters) and also matches untyped `_sum`/`_count` series, so callers can
 * list base names only.
 */
export function familyFilter(names: Iterable<string>): (familyName: string) => boolean {
  const keep = new Set<string>();
  for (const name of names) {
    const base = name.endsWith('_total') ? name.slice(0, -6) : name;
    for (const suffix of ['', '_total', '_sum', '_count']) keep.add(base + suffix);
  }
  return (familyName) => keep.has(familyName);
}

/** Looks a family up by name, accepting counters exposed with or without the `_total` suffix. */
export function findFamily(families: Families, name: string): MetricFamily | undefined {
  return (
    families.get(name) ??
    families.get(name + '_total') ??
    (name.endsWith('_total') ? families.get(name.slice(0, -6)) : undefined)
  );
}

export function parsePrometheusText(text: string, options: ParseOptions = {}): ParseResult {
  return new Parser(text, options.keepFamily, options.skipBuckets === true).run();
}

class Parser {
  private readonly families: Families = new Map();
  /** Declared type of every family seen in a TYPE line, kept or not, so skipped families' samples group right. */
  private readonly declared = new Map<string, MetricType>();
  /** The family of the current TYPE/HELP block (or of the last sample): most samples belong to it. */
  private current: { name: string; type: MetricType; kept: boolean } | undefined;
  private malformed = 0;
  // The cursor works on the whole text, without per-line copies: `pos` moves within [line start, `end`).
  private pos = 0;
  private end = 0;
  private nameStart = 0;

  constructor(
    private readonly text: string,
    private readonly keep: ((name: string) => boolean) | undefined,
    private readonly skipBuckets: boolean,
  ) {}

  run(): ParseResult {
    const text = this.text;
    let start = 0;
    while (start < text.length) {
      let newline = text.indexOf('\n', start);
      if (newline === -1) newline = text.length;
      this.pos = start;
      this.end = newline > start && text.charCodeAt(newline - 1) === 13 ? newline - 1 : newline; // tolerate CRLF
      if (!this.handleLine()) break;
      start = newline + 1;
    }
    return { families: this.families, malformedLines: this.malformed };
  }

  /** Returns false when parsing must stop (`# EOF`). */
  private handleLine(): boolean {
    this.skipBlanks();
    if (this.pos >= this.end) return true;
    if (this.text.charCodeAt(this.pos) === 35 /* # */) return this.handleComment();
    if (!this.handleSample()) this.malformed++;
    return true;
  }

  private handleComment(): boolean {
    this.pos++;
    this.skipBlanks();
    const keyword = this.readToken();
    if (keyword === 'EOF') return false;
    if (keyword !== 'HELP' && keyword !== 'TYPE') return true; // free-form comment, UNIT, ...
    this.skipBlanks();
    const name = this.readMetricName();
    if (name === undefined) {
      this.malformed++;
      return true;
    }
    this.skipBlanks();
    const rest = this.text.slice(this.pos, this.end).trimEnd();
    if (keyword === 'TYPE') {
      if (rest === '') {
        this.malformed++;
        return true;
      }
      const type = rest.toLowerCase();
      const resolved: MetricType = KNOWN_TYPES.has(type) ? (type as MetricType) : 'untyped'; // incl. OM `unknown`
      this.declared.set(name, resolved);
      this.setCurrent(name);
      const family = this.families.get(name);
      if (family) family.type = resolved;
    } else {
      if (this.current?.name !== name) this.setCurrent(name);
      const family = this.familyIfKept(name);
      if (family) family.help = unescapeHelp(rest);
    }
    return true;
  }

  private handleSample(): boolean {
    let familyName = this.matchCurrent();
    let kept: boolean;
    if (familyName !== undefined) {
      kept = this.current!.kept;
    } else {
      const sampleName = this.readMetricName();
      if (sampleName === undefined) return false;
      familyName = this.familyNameOf(sampleName);
      kept = this.isKept(familyName);
    }
    if (!kept) return true; // not wanted: skip without parsing the rest
    if (this.skipBuckets && this.isBucket(familyName)) return true;
    const name = this.text.slice(this.nameStart, this.pos);
    let labels: Labels = {};
    if (this.pos < this.end && this.text.charCodeAt(this.pos) === 123 /* { */) {
      const parsed = this.readLabels();
      if (parsed === undefined) return false;
      labels = parsed;
    }
    if (this.pos >= this.end || !isBlank(this.text.charCodeAt(this.pos))) return false;
    this.skipBlanks();
    const value = parseValue(this.readToken());
    if (value === undefined) return false;
    this.skipBlanks();
    let timestamp: number | undefined;
    if (this.pos < this.end && this.text.charCodeAt(this.pos) !== 35) {
      timestamp = Number(this.readToken());
      if (!Number.isFinite(timestamp)) return false;
      this.skipBlanks();
    }
    // Anything left must be an OpenMetrics exemplar (`# {...} v`), which we ignore.
    if (this.pos < this.end && this.text.charCodeAt(this.pos) !== 35) return false;
    const sample: Sample = { name, labels, value };
    if (timestamp !== undefined) sample.timestamp = timestamp;
    this.familyIfKept(familyName)?.samples.push(sample);
    return true;
  }

  /**
   * Fast path for the usual layout, a sample inside its TYPE block: matches the name in place without copying it
   * and leaves the cursor after it. Returns undefined, cursor unmoved, when the sample is not in the current family.
   */
  private matchCurrent(): string | undefined {
    const cur = this.current;
    const text = this.text;
    const start = this.pos;
    if (!cur || !matchesAt(text, start, cur.name)) return undefined;
    let i = start + cur.name.length;
    if (i < this.end && isNameChar(text.charCodeAt(i))) {
      const after = i;
      for (const suffix of SUFFIXES[cur.type]) {
        const j = after + suffix.length;
        if (matchesAt(text, after, suffix) && (j >= this.end || !isNameChar(text.charCodeAt(j)))) {
          i = j;
          break;
        }
      }
      if (i === after) return undefined;
    }
    this.nameStart = start;
    this.pos = i;
    return cur.name;
  }

  /** Whether the sample name just read is `<family>_bucket` of a histogram family. */
  private isBucket(familyName: string): boolean {
    if (this.pos - this.nameStart !== familyName.length + 7 || !matchesAt(this.text, this.pos - 7, '_bucket')) {
      return false;
    }
    const type = this.declared.get(familyName);
    return type === 'histogram' || type === 'gaugehistogram';
  }

  /** Maps a sample name to its family: a declared family (by exact name or by suffix) or an untyped one of its own. */
  private familyNameOf(sampleName: string): string {
    if (this.declared.has(sampleName)) return this.setCurrent(sampleName);
    for (const suffix of ALL_SUFFIXES) {
      if (!sampleName.endsWith(suffix)) continue;
      const base = sampleName.slice(0, -suffix.length);
      const type = this.declared.get(base);
      if (type !== undefined && SUFFIXES[type].includes(suffix)) return this.setCurrent(base);
    }
    return sampleName;
  }

  private setCurrent(name: string): string {
    this.current = { name, type: this.declared.get(name) ?? 'untyped', kept: this.isKept(name) };
    return name;
  }

  private isKept(name: string): boolean {
    return this.keep === undefined || this.keep(name);
  }

  private familyIfKept(name: string): MetricFamily | undefined {
    let family = this.families.get(name);
    if (family) return family;
    if (!this.isKept(name)) return undefined;
    family = { name, type: this.declared.get(name) ?? 'untyped', samples: [] };
    this.families.set(name, family);
    return family;
  }

  private readLabels(): Labels | undefined {
    const text = this.text;
    const labels: Labels = {};
    this.pos++; // {
    for (;;) {
      this.skipBlanks();
      if (this.pos >= this.end) return undefined;
      if (text.charCodeAt(this.pos) === 125 /* } */) {
        this.pos++;
        return labels;
      }
      const nameStart = this.pos;
      if (!isLabelStart(text.charCodeAt(this.pos))) return undefined;
      while (this.pos < this.end && isLabelChar(text.charCodeAt(this.pos))) this.pos++;
      const labelName = text.slice(nameStart, this.pos);
      this.skipBlanks();
      if (this.pos >= this.end || text.charCodeAt(this.pos) !== 61 /* = */) return undefined;
      this.pos++;
      this.skipBlanks();
      if (this.pos >= this.end || text.charCodeAt(this.pos) !== 34 /* " */) return undefined;
      const value = this.readQuoted();
      if (value === undefined || Object.hasOwn(labels, labelName)) return undefined;
      // A label called `__proto__` must stay plain data, not replace the object's prototype.
      if (labelName === '__proto__') Object.defineProperty(labels, labelName, { value, enumerable: true });
      else labels[labelName] = value;
      this.skipBlanks();
      if (this.pos >= this.end) return undefined;
      const c = text.charCodeAt(this.pos);
      if (c === 44 /* , */) this.pos++;
      else if (c !== 125) return undefined;
    }
  }

  /** Reads a double-quoted label value starting at the opening quote; handles `\\`, `\"` and `\n`. */
  private readQuoted(): string | undefined {
    const text = this.text;
    const start = ++this.pos;
    let out: string | undefined; // built only when the value has escapes
    let chunkStart = start;
    let i = start;
    while (i < this.end) {
      const c = text.charCodeAt(i);
      if (c === 34 /* " */) {
        this.pos = i + 1;
        return out === undefined ? text.slice(start, i) : out + text.slice(chunkStart, i);
      }
      if (c === 92 /* \ */ && i + 1 < this.end) {
        const next = text[i + 1];
        const unescaped = next === 'n' ? '\n' : next === '\\' || next === '"' ? next : '\\' + next;
        out = (out ?? '') + text.slice(chunkStart, i) + unescaped;
        i += 2;
        chunkStart = i;
        continue;
      }
      i++;
    }
    return undefined; // unterminated
  }

  private readMetricName(): string | undefined {
    const text = this.text;
    const start = this.pos;
    if (start >= this.end || !isNameStart(text.charCodeAt(start))) return undefined;
    let i = start + 1;
    while (i < this.end && isNameChar(text.charCodeAt(i))) i++;
    this.nameStart = start;
    this.pos = i;
    return text.slice(start, i);
  }

  private readToken(): string {
    const text = this.text;
    const start = this.pos;
    while (this.pos < this.end && !isBlank(text.charCodeAt(this.pos))) this.pos++;
    return text.slice(start, this.pos);
  }

  private skipBlanks(): void {
    while (this.pos < this.end && isBlank(this.text.charCodeAt(this.pos))) this.pos++;
  }
}

/** `text.startsWith(s, at)` without its cost: V8's version is slow with a position on a long string. */
function matchesAt(text: string, at: number, s: string): boolean {
  if (at + s.length > text.length) return false;
  for (let k = 0; k < s.length; k++) if (text.charCodeAt(at + k) !== s.charCodeAt(k)) return false;
  return true;
}

function parseValue(token: string): number | undefined {
  if (token === '') return undefined;
  const n = Number(token);
  if (!Number.isNaN(n)) return n;
  switch (token.toLowerCase()) {
    case 'nan':
      return NaN;
    case '+inf':
    case 'inf':
      return Infinity;
    case '-inf':
      return -Infinity;
    default:
      return undefined;
  }
}

function unescapeHelp(text: string): string {
  if (!text.includes('\\')) return text;
  return text.replace(/\\(\\|n)/g, (_m, c: string) => (c === 'n' ? '\n' : '\\'));
}
