export type DeadlineResult<T> = { ok: true; value: T } | { ok: false };

/**
 * Races `work` against a timer. On timeout resolves `{ ok: false }` and hands a value that arrives later
 * to `onLate` (so resources it holds can be released); a later rejection is swallowed.
 */
export function withDeadline<T>(work: Promise<T>, ms: number, onLate: (value: T) => void): Promise<DeadlineResult<T>> {
  return new Promise((resolve, reject) => {
    let expired = false;
    const timer = setTimeout(() => {
      expired = true;
      resolve({ ok: false });
    }, ms);
    work.then(
      (value) => {
        if (expired) {
          try {
            onLate(value);
          } catch {
            // onLate only releases resources; a failure there must not become an unhandled rejection.
          }
          return;
        }
        clearTimeout(timer);
        resolve({ ok: true, value });
      },
      (err: unknown) => {
        if (expired) return;
        clearTimeout(timer);
        reject(err);
      },
    );
  });
}
