/**
 * Progress of a long computation as the library reports it (the CLI draws it: cli/format.ts's
 * `progress`). One convention for every `onProgress(done, total)` of the library: `done` never
 * decreases, and the last call of a phase has done = total.
 */

/** A callback told `done` of `total` units of work (non-decreasing, ending at done = total). */
export type ProgressCallback = (done: number, total: number) => void;

/**
 * A phase's progress in thousandths of a fraction that the computation estimates as it goes
 * (restarts of a cap, time of a budget, nodes of a graph): calls `cb` only when the thousandth
 * grows, so the callback is never told less than before, and at most 1001 times.
 * @example const p = new Thousandths(cb); p.start(); p.at(0.25); p.at(0.2); p.end(); // cb: (0, 1000), (250, 1000), (1000, 1000)
 */
export class Thousandths {
  private shown = -1;
  constructor(private readonly cb?: ProgressCallback) {}
  /** Whether anyone listens (skip the work of estimating the fraction otherwise). */
  get on(): boolean {
    return this.cb !== undefined;
  }
  /** (0, 1000): the phase started. */
  start(): void {
    this.report(0);
  }
  /** The phase is `fraction` done (clamped below 1: only `end` reports the whole). */
  at(fraction: number): void {
    if (this.cb && fraction >= 0) this.report(Math.min(999, Math.floor(1000 * fraction)));
  }
  /** (1000, 1000): the phase is done. */
  end(): void {
    this.report(1000);
  }
  private report(d: number): void {
    if (this.cb && d > this.shown) this.cb((this.shown = d), 1000);
  }
}
