/**
 * A watchdog on an adaptive solve (the `monitor` of `SolveOptions`): it tells a flow that
 * crosses the kinks of a non-smooth model (relu, abs, sign) apart from one that is merely long,
 * and stops the first within seconds with the cause and what to try.
 *
 * Why kinks stall a solver: across a kink of relu the gradient of the loss jumps, so the
 * right-hand side of the flow is discontinuous there. An embedded error estimate sees an O(1)
 * error for any step that straddles the jump and rejects until h is at the rounding level of
 * the crossing (h ≈ 1e-9·T and below), then regrows the step geometrically until the next kink.
 * A network with n data points and m relu units has n·m kink surfaces, and a trajectory crosses
 * them again and again: t advances by a fraction of a percent per second while the solver works.
 *
 * The signature is a step-size collapse: an accepted step below `COLLAPSE` times the largest one
 * since the last collapse. The watch counts collapses; a non-smooth model with at least
 * `MIN_COLLAPSES` of them, after `graceSeconds` of work, whose rate of progress projects the
 * remaining time past `budgetSeconds`, is stopped with a message that names the cause.
 */
import type { StepAttempt } from './solvers/types.ts';

/** An accepted step below this fraction of the largest since the last collapse is a collapse. */
export const COLLAPSE = 1e-3;
/** Collapses before the watch calls it kink crossing (a single kink, or the start, is not). */
export const MIN_COLLAPSES = 3;

/** Options of `stepWatch`: the span integrated, whether the model is smooth, and the budgets. */
export interface StepWatchOptions {
  t0?: number;
  T: number;
  /** The model has a non-smooth function (relu, abs, sign): only then does a collapse stop the solve. */
  nonSmooth: boolean;
  /** Seconds of work before the projection is trusted (default 2). */
  graceSeconds?: number;
  /** Projected remaining seconds past which a non-smooth flow with collapses is stopped (default 30). */
  budgetSeconds?: number;
  /** What to try, appended to the message (the caller knows its options' names). */
  advice?: string;
}

/** Where a watched solve stands (for a progress line) and, after a stop, why. */
export interface StepWatchState {
  t: number;
  steps: number;
  rejected: number;
  /** The last attempted step size. */
  h: number;
  /** The smallest accepted step. */
  hMin: number;
  collapses: number;
  elapsed: number;
  /** Projected seconds to reach T at the rate of progress so far (null before any progress). */
  eta: number | null;
}

/**
 * A monitor for `solve` that stops a non-smooth flow whose steps keep collapsing when the time it
 * would take exceeds the budget, and the state it watched (for progress lines).
 *
 * @example
 *   const watch = stepWatch({ T: 2, nonSmooth: model.nonSmooth, advice: 'try softplus' });
 *   const r = solve('dop853', f, 0, y0, 2, { monitor: watch.monitor });
 *   if (r.status === 'stopped') console.error(r.message); // "… crossing kinks … collapsed 5 times …"
 */
export function stepWatch(o: StepWatchOptions): { monitor: (s: StepAttempt) => string | null; state: StepWatchState } {
  const t0 = o.t0 ?? 0, span = o.T - t0;
  const grace = o.graceSeconds ?? 2, budget = o.budgetSeconds ?? 30;
  const state: StepWatchState = { t: t0, steps: 0, rejected: 0, h: NaN, hMin: Infinity, collapses: 0, elapsed: 0, eta: null };
  let peak = 0;
  const monitor = (s: StepAttempt): string | null => {
    state.t = s.t; state.steps = s.steps; state.rejected = s.rejected; state.h = s.h; state.elapsed = s.elapsed;
    const done = s.t - t0;
    state.eta = done > 0 ? (s.elapsed * (span - done)) / done : null;
    if (!s.accepted) return null;
    state.hMin = Math.min(state.hMin, s.h);
    if (s.h < COLLAPSE * peak) {
      state.collapses++;
      peak = s.h;
    } else peak = Math.max(peak, s.h);
    if (!o.nonSmooth || state.collapses < MIN_COLLAPSES || s.elapsed < grace) return null;
    if (state.eta !== null && state.eta <= budget) return null;
    const rate = state.eta === null ? 'and t has not advanced' : `and at this rate T would be reached in about ${duration(state.eta)}`;
    return `it is crossing kinks of a non-smooth function (relu, abs or sign): the gradient jumps there, and the `
      + `step size collapsed ${state.collapses} times (down to h = ${short(state.hMin)} on a horizon T = ${short(o.T)}); `
      + `after ${short(s.elapsed)} s it is at t = ${short(s.t)} (${s.steps} attempted steps, ${Math.round((100 * s.rejected) / Math.max(1, s.steps))}% rejected) `
      + `${rate}.${o.advice ? ` ${o.advice}` : ''}`;
  };
  return { monitor, state };
}

/**
 * A duration in s, min or h, two significant digits.
 * @example duration(4500) // '75 min'
 */
export function duration(seconds: number): string {
  if (!Number.isFinite(seconds)) return 'forever';
  if (seconds < 120) return `${Number(seconds.toPrecision(2))} s`;
  if (seconds < 7200) return `${Number((seconds / 60).toPrecision(2))} min`;
  return `${Number((seconds / 3600).toPrecision(2))} h`;
}

const short = (x: number) => String(Number(x.toPrecision(3)));
