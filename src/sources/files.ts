import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve, sep } from 'node:path';
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
  /** A path that cannot be read or a file that is not YAML: stops the start; on a reload the file keeps its objects. */
  unreadable?: true;
}

/**
 * Kubernetes-style objects from YAML files or directories, re-read when they change. At start, a missing path or a file
 * that is not YAML is a ResourceError (a typo must not start an empty router); on a reload such a file keeps its
 * previous objects (a half-saved edit must not empty the fleet). An invalid object is skipped and reported.
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
    await this.load(true);
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

  private async load(atStart = false): Promise<void> {
    const problems: FileLoadProblem[] = [];
    const files = new Set<string>();
    const unlisted: string[] = [];
    for (const p of this.paths) {
      const listed = await listYamlFiles(resolve(p), problems);
      if (listed === undefined) unlisted.push(resolve(p));
      for (const f of listed ?? []) files.add(f);
    }
    // Files under a path that cannot be listed right now keep their objects, as a broken file does.
    const keep = (f: string) => files.has(f) || unlisted.some((p) => f === p || f.startsWith(p + sep));
    for (const f of this.perFile.keys()) if (!keep(f)) this.perFile.delete(f);
    for (const file of files) {
      const loaded = await loadFile(file, problems);
      if (loaded !== undefined) this.perFile.set(file, loaded);
    }
    this.problems = problems;
    const fatal = atStart ? problems.find((p) => p.unreadable) : undefined;
    if (fatal) throw new ResourceError(`--resources ${fatal.file}: ${fatal.message}`);
    for (const p of problems) {
      if (p.unreadable) logger.error({ file: p.file }, `resources: ${p.message}; keeping its last loaded objects`);
      else logger.warn({ file: p.file }, `resources: ${p.message}`);
    }
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

/** The YAML files of a path (a file, or a directory's files); undefined when the path cannot be read. */
async function listYamlFiles(path: string, problems: FileLoadProblem[]): Promise<string[] | undefined> {
  try {
    const s = await stat(path);
    if (!s.isDirectory()) return [path];
    const entries = await readdir(path, { withFileTypes: true });
    return entries
      .filter((e) => e.isFile() && YAML_EXT.has(extname(e.name)) && !e.name.startsWith('.'))
      .map((e) => join(path, e.name))
      .sort();
  } catch (err) {
    problems.push({ file: path, message: readError(err), unreadable: true });
    return undefined;
  }
}

/** Returns the file's objects, or undefined when the file cannot be parsed at all (keep the previous objects). */
async function loadFile(file: string, problems: FileLoadProblem[]): Promise<Resource[] | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    problems.push({ file, message: readError(err), unreadable: true });
    return undefined;
  }
  const docs = parseAllDocuments(text);
  const out: Resource[] = [];
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) {
      problems.push({ file, message: `invalid YAML: ${oneLine(doc.errors[0]!.message)}`, unreadable: true });
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

function readError(err: unknown): string {
  return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : `cannot read: ${(err as Error).message}`;
}

/** The yaml library's messages quote the source over several lines; the first names the problem and its position. */
function oneLine(message: string): string {
  return message.split('\n')[0]!.trim();
}

function isList(v: unknown): boolean {
  const o = v as { kind?: unknown; items?: unknown };
  return typeof o.kind === 'string' && o.kind.endsWith('List') && Array.isArray(o.items);
}
