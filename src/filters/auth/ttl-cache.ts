import { createHash } from 'node:crypto';

/** Entries with an absolute expiry and a size cap (oldest evicted first). Credentials are keyed by their SHA-256. */
export class TtlCache<V> {
  private readonly map = new Map<string, { expiresAt: number; value: V }>();

  constructor(private readonly maxEntries: number) {}

  get(key: string, now = Date.now()): V | undefined {
    const e = this.map.get(key);
    if (!e) return undefined;
    if (e.expiresAt > now) return e.value;
    this.map.delete(key);
    return undefined;
  }

  set(key: string, value: V, expiresAt: number): void {
    if (expiresAt <= Date.now()) return;
    this.map.delete(key);
    // Maps iterate in insertion order: the first key is the oldest.
    if (this.map.size >= this.maxEntries) this.map.delete(this.map.keys().next().value!);
    this.map.set(key, { expiresAt, value });
  }

  clear(): void {
    this.map.clear();
  }
}

export function credentialKey(credential: string): string {
  return createHash('sha256').update(credential).digest('hex');
}
