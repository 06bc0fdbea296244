import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { logger } from '../observability/logger.js';
import { ResourceError, parseResource } from '../resources/parse.js';
import type { Resource, ResourceKind } from '../resources/types.js';
import type { ResourceSink, ResourceSource } from './types.js';

const KINDS: ResourceKind[] = [
  'Pod',
  'ModelServer',
  'ModelRoute',
  'InferencePool',
  'InferenceObjective',
  'ExternalModelProvider',
  'Secret',
];
const YAML_EXT = new Set(['.yaml', '.yml', '.json']);

export interface FileLoadProblem {
  file: string;
  message: string;
}

/**
 * Kubernetes-style objects from YAML files or directories, re-read when they change. A file that fails to parse keeps
 * its previous objects (a half-saved edit must not empty the fleet); an invalid object is skipped and reported.
 */
export class FileSource implements ResourceSource {
  readonly name = 'files';
  private readonly perFile = new Map<string, Resource[]>();
  private readonly watchers: FSWatcher[] = [];
  private sink: ResourceSink | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloading: Promise<void> = Promise.resolve();
  /** Problems found by the last load, for the CLI to show and tests to check. */
  problems: FileLoadProblem[] = [];

  constructor(private readonly paths: string[], private readonly opts: { watch?: boolean; debounceMs?: number } = {}) {}

  async start(sink: ResourceSink): Promise<void> {
    this.sink = sink;
    await this.load();
    if (this.opts.watch !== false) this.watchAll();
  }

  async stop(): Promise<void> {
    clearTimeout(this.timer);
    for (const w of this.watchers.splice(0)) w.close();
    await this.reloading;
  }

  /** Re-reads every path and publishes the result; serialised so overlapping reloads cannot interleave. */
  reload(): Promise<void> {
    this.reloading = this.reloading.then(() => this.load());
    return this.reloading;
  }

  private async load(): Promise<void> {
    const problems: FileLoadProblem[] = [];
    const files = new Set<string>();
    for (const p of this.paths) {
      for (const f of await listYamlFiles(resolve(p), problems)) files.add(f);
    }
    for (const f of this.perFile.keys()) if (!files.has(f)) this.perFile.delete(f);
    for (const file of files) {
      const loaded = await loadFile(file, problems);
      if (loaded !== undefined) this.perFile.set(file, loaded);
    }
    this.problems = problems;
    for (const p of problems) logger.warn({ file: p.file }, `resources: ${p.message}`);
    this.sink?.replace(KINDS, [...this.perFile.values()].flat());
  }

  private watchAll(): void {
    const debounce = this.opts.debounceMs ?? 100;
    const schedule = () => {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.reload(), debounce);
    };
    for (const p of this.paths) {
      const abs = resolve(p);
      // Watch the directory even for a single file: editors save by rename, which ends a watch on the file itself.
      void stat(abs)
        .then((s) => {
          const dir = s.isDirectory() ? abs : dirname(abs);
          const only = s.isDirectory() ? undefined : basename(abs);
          const w = watch(dir, (_event, name) => {
            if (only === undefined || name === null || name === only) schedule();
          });
          w.on('error', (err) => logger.warn({ err: String(err), path: dir }, 'resources: watch failed'));
          this.watchers.push(w);
        })
        .catch((err) => logger.warn({ err: String(err), path: abs }, 'resources: cannot watch'));
    }
  }
}

async function listYamlFiles(path: string, problems: FileLoadProblem[]): Promise<string[]> {
  try {
    const s = await stat(path);
    if (!s.isDirectory()) return [path];
    const entries = await readdir(path, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && YAML_EXT.has(extname(e.name)) && !e.name.startsWith('.'))
      .map((e) => join(path, e.name))
      .sort();
  } catch (err) {
    problems.push({ file: path, message: `cannot read: ${(err as Error).message}` });
    return [];
  }
}

/** Returns the file's objects, or undefined when the file cannot be parsed at all (keep the previous objects). */
async function loadFile(file: string, problems: FileLoadProblem[]): Promise<Resource[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    problems.push({ file, message: `cannot read: ${(err as Error).message}` });
    return undefined;
  }
  const docs = parseAllDocuments(text);
  const out: Resource[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) {
      problems.push({ file, message: `invalid YAML: ${doc.errors[0]!.message}` });
      return undefined;
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const items = isList(value) ? (value as { items: unknown[] }).items : [value];
    for (const item of items) {
      try {
        const r = parseResource(item);
        if (r) out.push(r);
      } catch (err) {
        if (!(err instanceof ResourceError)) throw err;
        problems.push({ file, message: err.message });
      }
    }
  }
  return out;
}

function isList(v: unknown): boolean {
  const o = v as { kind?: unknown; items?: unknown };
  return typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items);
}
