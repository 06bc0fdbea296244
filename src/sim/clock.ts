// Maps simulated milliseconds to wall-clock milliseconds under a time scale (wall = sim × timeScale). The
// mapping is anchored at one (wall, sim) pair; the engine re-anchors when the host falls behind so that it slows
// down instead of bursting to catch up. Time scale 0 is virtual time: every moment is already due, and simulated
// time stands still except when the engine re-anchors it (at the end of each step).

export type WallClock = () => number;

export class SimClock {
  private anchorWall: number;
  private anchorSim = 0;

  constructor(
    readonly timeScale: number,
    readonly wallNow: WallClock = () => performance.now(),
  ) {
    this.anchorWall = wallNow();
  }

  /** Simulated time corresponding to the current wall time. */
  simNow(): number {
    if (this.timeScale === 0) return this.anchorSim;
    return this.anchorSim + (this.wallNow() - this.anchorWall) / this.timeScale;
  }

  /** Wall time at which simulated time `sim` is due. */
  wallAt(sim: number): number {
    if (this.timeScale === 0) return -Infinity;
    return this.anchorWall + (sim - this.anchorSim) * this.timeScale;
  }

  /** Declares that simulated time `sim` is happening now. */
  reanchor(sim: number): void {
    this.anchorWall = this.wallNow();
    this.anchorSim = sim;
  }
}
