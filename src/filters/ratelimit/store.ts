import { acquire, adjust, idle, initial, type Outcome, type State } from './algorithms.js';
import type { Algorithm } from './config.js';

// Where limit state lives. A subject (one route, user, tier or model) has one entry holding all its dimensions;
// `acquire` is all-or-nothing across them.

export interface DimSpec {
  /** Dimension name, the field prefix inside the subject's entry. */
  field: string;
  limit: number;
  windowMs: number;
}

export interface LimitStore {
  readonly kind: 'local' | 'redis';
  acquire(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }>;
  /** What `acquire` would answer, taking nothing. */
  peek(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }>;
  /** Per dimension: give back (> 0) or charge more (< 0). */
  adjust(key: string, dims: DimSpec[], deltas: number[]): Promise<void>;
  close(): Promise<void>;
}

/** Per-process store. Idle entries (full buckets, empty windows) are swept periodically to bound memory. */
export class LocalStore implements LimitStore {
  readonly kind = 'local';
  private readonly entries = new Map<string, { dims: DimSpec[]; states: Map<string, State> }>();
  private readonly sweeper: NodeJS.Timeout;

  constructor(
    private readonly algo: Algorithm,
    private readonly now: () => number = Date.now,
    sweepIntervalMs = 60_000,
  ) {
    this.sweeper = setInterval(() => this.sweep(), sweepIntervalMs);
    this.sweeper.unref();
  }

  async acquire(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }> {
    const { entry, trial, ok, outcomes } = this.trial(key, dims, costs);
    if (ok) dims.forEach((d, i) => entry.states.set(d.field, trial[i]!));
    return { ok, outcomes };
  }

  async peek(key: string, dims: DimSpec[], costs: number[]): Promise<{ ok: boolean; outcomes: Outcome[] }> {
    const { ok, outcomes } = this.trial(key, dims, costs);
    return { ok, outcomes };
  }

  /** Works on copies: nothing is taken unless the caller stores them. */
  private trial(key: string, dims: DimSpec[], costs: number[]) {
    const now = this.now();
    const entry = this.entry(key, dims);
    const trial = dims.map((d) => [...this.state(entry.states, d, now)] as State);
    const outcomes = dims.map((d, i) => acquire(this.algo, trial[i]!, d.limit, d.windowMs, costs[i]!, now));
    return { entry, trial, ok: outcomes.every((o) => o.ok), outcomes };
  }

  async adjust(key: string, dims: DimSpec[], deltas: number[]): Promise<void> {
    const now = this.now();
    const entry = this.entry(key, dims);
    dims.forEach((d, i) => adjust(this.algo, this.state(entry.states, d, now), d.limit, d.windowMs, deltas[i]!, now));
  }

  async close(): Promise<void> {
    clearInterval(this.sweeper);
    this.entries.clear();
  }

  /** Number of live entries (for tests and diagnostics). */
  get size(): number {
    return this.entries.size;
  }

  sweep(): void {
    const now = this.now();
    for (const [key, e] of this.entries) {
      if (e.dims.every((d) => idle(this.algo, this.state(e.states, d, now), d.limit, d.windowMs, now))) this.entries.delete(key);
    }
  }

  private entry(key: string, dims: DimSpec[]) {
    let e = this.entries.get(key);
    if (!e) {
      e = { dims, states: new Map() };
      this.entries.set(key, e);
    }
    e.dims = dims;
    return e;
  }

  private state(states: Map<string, State>, d: DimSpec, now: number): State {
    let s = states.get(d.field);
    if (!s) {
      s = initial(this.algo, d.limit, now, d.windowMs);
      states.set(d.field, s);
    }
    return s;
  }
}
