/** What replaces a credential in a provider's error text. */
export const REDACTED = '[redacted]';

/** Characters providers put between the visible ends of a masked key (`sk-...abcd`, `sk-proj-****abcd`, `sk-…abcd`). */
const MASKED = /([\w-]*)(?:[*.…•]{3,}|…)([\w-]*)/g;

/** Shortest key whose masked form is matched: a shorter one is replaced only verbatim. */
const MIN_MASKED_KEY = 12;

/**
 * Removes one credential from a provider's text: the raw key (so `Bearer <key>` too), its JSON- and URL-escaped forms,
 * and the partially masked forms providers echo in auth errors: a prefix of the key, a run of mask characters, and the
 * key's last four characters.
 */
export class CredentialRedactor {
  private readonly forms: string[];
  private readonly tail: string;

  constructor(private readonly key: string) {
    const forms = new Set([key, JSON.stringify(key).slice(1, -1), encodeURIComponent(key)]);
    // Longest first, so that an escaped form containing the raw key is removed whole.
    this.forms = [...forms].filter((f) => f.length > 0).sort((a, b) => b.length - a.length);
    this.tail = key.length >= MIN_MASKED_KEY ? key.slice(-4) : '';
  }

  /** The longest form replaced: text cut after `n` bytes is safe to redact if `n + longest` bytes were seen. */
  get longest(): number {
    return Buffer.byteLength(this.forms[0] ?? '');
  }

  redact(text: string): string {
    let out = text;
    for (const form of this.forms) out = out.split(form).join(REDACTED);
    if (!this.tail) return out;
    return out.replace(MASKED, (whole, head: string, end: string) =>
      end.endsWith(this.tail) && this.key.startsWith(head) && this.key.endsWith(end) ? REDACTED : whole,
    );
  }
}
