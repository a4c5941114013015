/**
 * Types shared by the ODE solvers (`solve` in `./index.ts`).
 *
 * The problem is `dy/dt = f(t, y)`, `y(t0) = y0`, integrated forward on `[t0, T]`; the state
 * is one `Float64Array` of dimension n. Every buffer is preallocated per solve: the RHS and
 * its Jacobian-vector product write into arrays they are given and must not keep them.
 */
import type { StepController } from './controller.ts';
import type { LowRankOptions } from './etd.ts';

/** Writes f(t, y) into `dydt`. Must not modify `y` nor keep a reference to it or to `dydt`. */
export type Rhs = (t: number, y: Float64Array, dydt: Float64Array) => void;

/** Jacobian-vector product of the RHS: out = ∂f/∂y (t, y) · v (for stiff methods, matrix-free). */
export type RhsJvp = (t: number, y: Float64Array, v: Float64Array, out: Float64Array) => void;

/** Partial time derivative of the RHS: out = ∂f/∂t (t, y). */
export type RhsDt = (t: number, y: Float64Array, out: Float64Array) => void;

/** Settings of the restarted GMRES that solves the Rosenbrock stage systems. */
export interface KrylovOptions {
  /** Krylov subspace dimension before a restart (default 20; memory is (restart + 2)·n floats). */
  restart?: number;
  /** Maximum total GMRES iterations per stage solve (default 10·restart). */
  maxIters?: number;
  /**
   * Residual target relative to the error tolerance: stop when ‖r‖₂ ≤ tol·‖sc‖₂ with
   * sc_i = atol + rtol·|y_i| (default 1e-3), or when ‖r‖₂ ≤ 1e-13·‖b‖₂ (nothing more to gain).
   */
  tol?: number;
}

export interface SolveOptions {
  /** Relative tolerance (default 1e-8). */
  rtol?: number;
  /**
   * Absolute tolerance (default 1e-10). Error norm: RMS of err_i/(atol + rtol·max(|y_i|,|y_new_i|))
   * (Hairer–Nørsett–Wanner I, §II.4); a step is accepted when the norm is ≤ 1.
   */
  atol?: number;
  /** Initial step (default: Hairer's automatic choice, HNW I II.4 "starting step size"). */
  h0?: number;
  /** Largest step (default T − t0). */
  hmax?: number;
  /** Limit on attempted (accepted + rejected) steps (default 1e6). */
  maxSteps?: number;
  /**
   * Limit on wall-clock time in seconds (default none): past it the solve ends with status
   * 'maxTime' and the state reached, checked after every attempted step.
   */
  maxTime?: number;
  /**
   * Called after every attempted step (accepted or rejected) with where the solve stands; a
   * string returned ends the solve with status 'stopped' and that string as its message (a
   * caller's watchdog: `stepWatch` of `../step-watch.ts` stops flows that cross relu kinks).
   */
  monitor?: (s: StepAttempt) => string | null | undefined | void;
  /**
   * Output times (sorted, within [t0, T]); values come from the method's dense output, the
   * steps are not shortened to hit them. Default [t0, T].
   */
  times?: number[];
  /** Jacobian-vector product of f; required by the stiff method ('rosenbrock'). */
  jvp?: RhsJvp;
  /**
   * Called after each accepted step with the new (t, y); `y` is the solver's own buffer (copy
   * it to keep it, never modify it). Return false to stop (status 'stopped').
   */
  onStep?: (t: number, y: Float64Array) => void | boolean;
  /** Explicit methods: Hairer's stiffness test (default true). */
  detectStiffness?: boolean;
  /**
   * Constant step size without error control (the last step is shortened to end at T).
   * Meant for convergence-order tests and reproducible runs; tolerances still set the GMRES
   * target of the stiff method.
   */
  fixedStep?: number;
  /** Step-size controller (default: a PI controller, see `piController`). */
  controller?: StepController | 'I' | 'PI';
  /** Rosenbrock: f does not depend on t explicitly (skips the ∂f/∂t term and its 2 RHS calls per step). */
  autonomous?: boolean;
  /** Rosenbrock: exact ∂f/∂t; by default a second-order one-sided finite difference in t. */
  dfdt?: RhsDt;
  /** Rosenbrock: GMRES settings. */
  krylov?: KrylovOptions;
  /**
   * The exponential methods ('exponential', 'etdrk4'): the low-rank stiff part A = −Q diag(λ) Qᵀ
   * of f, chosen from each accepted state, and the products with Q. Without it A = 0 and they
   * are their explicit counterparts (Adams–Bashforth–Moulton, RK4 with step doubling).
   */
  lowRank?: LowRankOptions;
  /** Exponential Adams: the predictor's highest order, 1 to 7 (default 5; the corrector is one higher). */
  maxOrder?: number;
}

/** One attempted step as `monitor` sees it: from t with size h, accepted or not, and the counts so far. */
export interface StepAttempt {
  /** The time reached: the step's end when accepted, the time it started from when rejected. */
  t: number;
  /** Its size (the attempt's, shortened to an output time or T if it was). */
  h: number;
  accepted: boolean;
  /** Accepted and rejected steps so far (this one included). */
  steps: number;
  rejected: number;
  /** Wall-clock seconds since the solve started. */
  elapsed: number;
}

export type SolveStatus = 'ok' | 'stopped' | 'maxSteps' | 'maxTime' | 'nonFinite' | 'stepTooSmall';

export interface SolveResult {
  /** Output times reached: `times` (or [t0, T] if none given); shorter if the solve ended early. */
  t: number[];
  /** Solution at `t` (copies). */
  y: Float64Array[];
  stats: { steps: number; rejected: number; rhsEvals: number; jvpEvals: number };
  /**
   * Explicit methods: Hairer's stiffness test. ρ = ‖f(Y_last) − f(Y_penult)‖/‖Y_last − Y_penult‖
   * over the two last stages of a step (both at t + h) estimates |λ|max; the problem is flagged
   * when h·ρ exceeds the method's real stability boundary (3.25 DOPRI5, 6.1 DOP853) on 15
   * accepted steps, interrupted by fewer than 6 non-stiff ones. `estimate` is h·ρ at detection,
   * `lambdaMax` = ρ, `atTime` the time. The solve goes on; all null (detected false) when not
   * detected or not applicable (the stiff method). It fires only where the steps are limited by
   * stability (not at tolerances so tight that accuracy limits h first).
   */
  stiffness: { detected: boolean; estimate: number | null; atTime: number | null; lambdaMax: number | null };
  status: SolveStatus;
  /** For a non-ok status: what happened, at what time, what to try. */
  message?: string;
  /** Time of the last accepted state (T when status is 'ok'). */
  tFinal: number;
  /** Last accepted state (a copy); for 'stopped', 'maxSteps', … the state at `tFinal`. */
  yFinal: Float64Array;
}
