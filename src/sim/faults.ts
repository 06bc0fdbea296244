import { seededRandom } from './hash.js';

// Fault injection so tests can make a pod misbehave: a standing mode set through POST /admin/fail, and a random
// 503 rate for inference requests. Scope "inference" limits a mode to /v1/*; "all" (default) also covers /health
// and /metrics. /admin/* is never affected.

export type FaultMode = 'ok' | '503' | 'hang' | 'reset';
export type FaultScope = 'all' | 'inference';
export type RouteClass = 'inference' | 'health' | 'metrics';

export const FAULT_MODES: readonly FaultMode[] = ['ok', '503', 'hang', 'reset'];

export class Faults {
  private mode: FaultMode = 'ok';
  private scope: FaultScope = 'all';
  private readonly random: () => number;

  constructor(
    private readonly failRate: number,
    seed: number,
  ) {
    this.random = seededRandom(seed ^ 0x5eed);
  }

  set(mode: FaultMode, scope: FaultScope = 'all'): void {
    this.mode = mode;
    this.scope = scope;
  }

  state(): { mode: FaultMode; scope: FaultScope; failRate: number } {
    return { mode: this.mode, scope: this.scope, failRate: this.failRate };
  }

  /** What to do with a request of this class: serve it normally ('ok') or misbehave. */
  decide(route: RouteClass): FaultMode {
    if (this.mode !== 'ok' && (this.scope === 'all' || route === 'inference')) return this.mode;
    if (route === 'inference' && this.failRate > 0 && this.random() < this.failRate) return '503';
    return 'ok';
  }
}
