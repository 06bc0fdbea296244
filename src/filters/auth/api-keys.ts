import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { logger } from '../../observability/logger.js';
import { list } from './config-reader.js';
import { parseApiKeyEntry, type ApiKeyEntry, type ApiKeySecretRef, type ApiKeysConfig } from './config.js';
import type { GetSecret } from './types.js';

// API keys from three sources, all held only as SHA-256 digests:
//  - inline entries in the router config;
//  - mounted files (YAML or JSON list of entries, same shape as inline), re-read when their mtime changes;
//  - Kubernetes Secrets named in the config: each data entry is `<user>: <api key>`, the ref supplies tier/models.
// A presented key is hashed, looked up by digest, and the digests are compared with timingSafeEqual.

interface StoredKey {
  digest: Buffer;
  entry: ApiKeyEntry;
}

export class ApiKeyStore {
  private readonly inline = new Map<string, StoredKey>();
  private fileKeys = new Map<string, StoredKey>();
  private readonly keysByFile = new Map<string, Map<string, StoredKey>>();
  private readonly fileMtimes = new Map<string, number>();
  private readonly secretCache = new Map<string, { data: Record<string, string>; keys: Map<string, StoredKey> }>();
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly config: ApiKeysConfig,
    private readonly getSecret?: GetSecret,
  ) {
    for (const e of config.keys) this.inline.set(e.sha256, stored(e));
    if (config.files.length > 0) {
      this.reloadFiles();
      this.timer = setInterval(() => this.reloadFiles(), config.fileRefreshSeconds * 1000);
      this.timer.unref();
    }
  }

  lookup(presented: string): ApiKeyEntry | undefined {
    const digest = createHash('sha256').update(presented, 'utf8').digest();
    const hex = digest.toString('hex');
    const found = this.inline.get(hex) ?? this.fileKeys.get(hex) ?? this.fromSecrets(hex);
    return found && timingSafeEqual(found.digest, digest) ? found.entry : undefined;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** Re-reads key files whose modification time changed; a broken file keeps its previous keys. */
  reloadFiles(): void {
    let changed = false;
    for (const path of this.config.files) {
      let mtime: number;
      try {
        mtime = statSync(path).mtimeMs;
      } catch (err) {
        logger.error({ file: path, err: (err as Error).message }, 'API key file unreadable');
        continue;
      }
      if (this.fileMtimes.get(path) === mtime) continue;
      try {
        const doc: unknown = parseYaml(readFileSync(path, 'utf8'));
        const entries = list(doc, path).map((e, i) => parseApiKeyEntry(e, `${path}[${i}]`));
        this.keysByFile.set(path, new Map(entries.map((e) => [e.sha256, stored(e)])));
        changed = true;
        logger.info({ file: path, keys: entries.length }, 'API key file loaded');
      } catch (err) {
        // YAML errors quote the offending line, which may hold a key: log only the position.
        const reason =
          err instanceof YAMLParseError ? `YAML error ${err.code} at line ${err.linePos?.[0].line ?? '?'}` : (err as Error).message;
        logger.error({ file: path, err: reason }, 'API key file invalid; keeping previous keys');
      }
      this.fileMtimes.set(path, mtime);
    }
    if (changed) this.fileKeys = new Map([...this.keysByFile.values()].flatMap((m) => [...m]));
  }

  private fromSecrets(hex: string): StoredKey | undefined {
    if (!this.getSecret) return undefined;
    for (const ref of this.config.secrets) {
      const data = this.getSecret(ref.namespace, ref.name);
      if (!data) continue;
      const id = `${ref.namespace}/${ref.name}`;
      let cached = this.secretCache.get(id);
      // The datastore hands out a new object when the Secret changes, so identity tells us when to re-hash.
      if (!cached || cached.data !== data) {
        cached = { data, keys: secretKeys(ref, data) };
        this.secretCache.set(id, cached);
      }
      const hit = cached.keys.get(hex);
      if (hit) return hit;
    }
    return undefined;
  }
}

function stored(entry: ApiKeyEntry): StoredKey {
  return { digest: Buffer.from(entry.sha256, 'hex'), entry };
}

function secretKeys(ref: ApiKeySecretRef, data: Record<string, string>): Map<string, StoredKey> {
  const keys = new Map<string, StoredKey>();
  for (const [user, value] of Object.entries(data)) {
    const key = value.trim();
    if (!key) continue;
    const sha256 = createHash('sha256').update(key, 'utf8').digest('hex');
    keys.set(sha256, stored({ sha256, user, tenant: ref.tenant, tier: ref.tier, groups: ref.groups, models: ref.models }));
  }
  return keys;
}
