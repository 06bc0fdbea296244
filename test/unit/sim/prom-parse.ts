// Strict parser for the Prometheus text format as the simulator's tests need it: every sample must belong to a
// family declared by # TYPE, values must be numbers, and a series may not repeat.

export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: string;
  help: string;
  samples: PromSample[];
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)/y;

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  LABEL.lastIndex = 0;
  while (LABEL.lastIndex < text.length) {
    const m = LABEL.exec(text);
    if (!m) throw new Error(`bad labels: {${text}}`);
    labels[m[1]!] = m[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
  }
  return labels;
}

function familyOf(sample: string, families: Map<string, PromFamily>): PromFamily | undefined {
  if (families.has(sample)) return families.get(sample);
  const base = sample.replace(/_(bucket|count|sum)$/, '');
  const f = families.get(base);
  return f?.type === 'histogram' ? f : undefined;
}

export function parseProm(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  const helps = new Map<string, string>();
  const seen = new Set<string>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const help = /^# HELP (\S+) (.*)$/.exec(line);
    if (help) {
      helps.set(help[1]!, help[2]!);
      continue;
    }
    const type = /^# TYPE (\S+) (counter|gauge|histogram|summary|untyped)$/.exec(line);
    if (type) {
      if (families.has(type[1]!)) throw new Error(`duplicate family ${type[1]}`);
      families.set(type[1]!, { name: type[1]!, type: type[2]!, help: helps.get(type[1]!) ?? '', samples: [] });
      continue;
    }
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`bad line: ${line}`);
    const value = m[4] === '+Inf' ? Infinity : m[4] === '-Inf' ? -Infinity : Number(m[4]);
    if (Number.isNaN(value) && m[4] !== 'NaN') throw new Error(`bad value: ${line}`);
    const family = familyOf(m[1]!, families);
    if (!family) throw new Error(`sample without family: ${line}`);
    const key = `${m[1]}{${m[3] ?? ''}}`;
    if (seen.has(key)) throw new Error(`duplicate series ${key}`);
    seen.add(key);
    family.samples.push({ name: m[1]!, labels: parseLabels(m[3] ?? ''), value });
  }
  return families;
}

/** Value of the single sample `name` (a counter or gauge, or a histogram's _count/_sum) matching `labels`. */
export function value(families: Map<string, PromFamily>, name: string, labels: Record<string, string> = {}): number {
  const family = familyOf(name, families);
  const hits = (family?.samples ?? []).filter(
    (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
  );
  if (hits.length !== 1) throw new Error(`${hits.length} samples of ${name} match ${JSON.stringify(labels)}`);
  return hits[0]!.value;
}
