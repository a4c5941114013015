/**
 * The integration loop shared by every method: step-size control, output times (by dense
 * output, or by landing on them for a method that has none), stiffness bookkeeping, limits and
 * faults. A method is a `Stepper` (one attempted step, its acceptance, its dense output if it
 * has one); the loop never touches stage data. The explicit Runge–Kutta pairs, RODAS4 and the
 * low-rank exponential methods (ETDRK4, exponential Adams) all run here (diffrax's design: a
 * solver is a stepper, the loop and the controllers are shared).
 */
import { makeController, type StepController } from './controller.ts';
import type { Rhs, SolveOptions, SolveResult, SolveStatus } from './types.ts';

/** RHS and Jacobian-product counts, shared by a stepper and the driver. */
export interface Counters { rhsEvals: number; jvpEvals: number }

/** A non-finite value met at `time`; `what` names the quantity ("f(t, y)", "y", …). */
export interface Fault { readonly time: number; readonly what: string }

export function isFault(x: unknown): x is Fault {
  return typeof x === 'object' && x !== null && 'what' in x;
}

/**
 * One method's stepping machinery on preallocated buffers.
 * Protocol: `init` once; `prepare` (if any) from each accepted state, with the step size the
 * controller proposes; then repeatedly `attempt` (any number of times from the same state) and,
 * when the driver accepts, `accept`; `dense` is valid between `accept` and the next `attempt`,
 * and only if `accept` was told `needDense`. A stepper without `dense` has its steps end on the
 * output times instead.
 */
export interface Stepper {
  readonly n: number;
  /**
   * Exponent q of the error estimate, err ∝ h^q, of the last attempt (a variable-order method,
   * exponential Adams during its start-up, changes it from step to step).
   */
  readonly errorExponent: number;
  /** Current state; replaced by the new state on `accept`. Never hand out for writing. */
  readonly y: Float64Array;
  /** f(t, y) at the current state. */
  readonly f0: Float64Array;
  /** h·ρ threshold of the stiffness test, or null if the method has none. */
  readonly stiffnessThreshold: number | null;
  /** h·ρ of the last accepted step (NaN when not computed). */
  readonly lastStiffness: number;
  /** Why the last attempt failed, when it was not the error estimate (e.g. GMRES); '' otherwise. */
  readonly note: string;
  init(t0: number, y0: Float64Array): Fault | null;
  /** The first step's size when the options give none (default: Hairer's starting step). */
  startStep?(span: number): number;
  /**
   * Called from each accepted state (t0 included) with the step size the controller proposes,
   * before the attempts from it (the exponential methods choose their stiff part by it).
   */
  prepare?(t: number, h: number): void;
  /** Try a step of size h from (t, y); returns the scaled error norm (≤ 1: acceptable) or a fault. */
  attempt(t: number, h: number): number | Fault;
  /**
   * Adopt the attempted step, ending at tNew (t + h, or exactly the output time or T the step
   * was shortened to); prepares dense output on it if `needDense`. On a fault the old state stays.
   */
  accept(t: number, h: number, needDense: boolean, tNew: number): Fault | null;
  /** u(t_old + θh) of the last accepted step into `out`, θ ∈ [0, 1] (absent: steps land on the output times). */
  dense?(theta: number, out: Float64Array): void;
}

export interface Tolerances { rtol: number; atol: number }

export function resolveTolerances(opts: SolveOptions): Tolerances {
  const rtol = opts.rtol ?? 1e-8, atol = opts.atol ?? 1e-10;
  if (!(rtol >= 0) || !(atol >= 0) || !(rtol + atol > 0) || !Number.isFinite(rtol + atol)) {
    throw new RangeError(`tolerances must be finite, ≥ 0 and not both 0 (rtol = ${rtol}, atol = ${atol})`);
  }
  // atol = 0 (pure relative control) keeps sc_i > 0, so a component with y = 0 and a zero error
  // contributes 0 (not 0/0) and any nonzero error there counts as ∞.
  return { rtol, atol: atol > 0 ? atol : Number.MIN_VALUE };
}

/** True iff every entry is finite (x·0 is NaN exactly for NaN and ±∞). */
export function allFinite(x: Float64Array): boolean {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]! * 0;
  return s === 0;
}

/** out = f(t, y), counted; false when out has a NaN or an infinity (the steppers' one RHS call). */
export function evalRhs(f: Rhs, counters: Counters, t: number, y: Float64Array, out: Float64Array): boolean {
  counters.rhsEvals++;
  f(t, y, out);
  return allFinite(out);
}

/** Short decimal rendering of a time for messages. */
export function fmt(x: number): string {
  return String(Number(x.toPrecision(8)));
}

/**
 * Hairer's starting step (HNW I, §II.4, "Automatic selection of the initial step size"),
 * with RMS norms scaled by sc_i = atol + rtol·|y0_i|:
 *   d0 = ‖y0‖, d1 = ‖f0‖, h0 = 0.01·d0/d1 (1e-6 if either is < 1e-5),
 *   d2 = ‖f(t0 + h0, y0 + h0 f0) − f0‖/h0,
 *   h1 = (0.01/max(d1, d2))^(1/q), h = min(100 h0, h1, hmax).
 * Allocates two n-vectors (once per solve).
 */
export function initialStep(f: Rhs, t0: number, y0: Float64Array, f0: Float64Array, span: number,
  hmax: number, q: number, tol: Tolerances, counters: Counters): number {
  const n = y0.length;
  if (n === 0) return Math.min(span, hmax);
  let d0 = 0, d1 = 0;
  for (let i = 0; i < n; i++) {
    const sc = tol.atol + tol.rtol * Math.abs(y0[i]!);
    const a = sc > 0 ? y0[i]! / sc : 0, b = sc > 0 ? f0[i]! / sc : (f0[i] === 0 ? 0 : Infinity);
    d0 += a * a; d1 += b * b;
  }
  d0 = Math.sqrt(d0 / n); d1 = Math.sqrt(d1 / n);
  let h0 = d0 < 1e-5 || d1 < 1e-5 ? 1e-6 : 0.01 * d0 / d1;
  h0 = Math.min(h0, hmax, span);
  const y1 = new Float64Array(n), f1 = new Float64Array(n);
  for (let i = 0; i < n; i++) y1[i] = y0[i]! + h0 * f0[i]!;
  counters.rhsEvals++;
  f(t0 + h0, y1, f1);
  let d2 = 0;
  for (let i = 0; i < n; i++) {
    const sc = tol.atol + tol.rtol * Math.abs(y0[i]!);
    const r = sc > 0 ? (f1[i]! - f0[i]!) / sc : 0;
    d2 += r * r;
  }
  d2 = Math.sqrt(d2 / n) / h0;
  if (!Number.isFinite(d2)) return h0; // the Euler probe overflowed: stay with the cautious guess
  const dmax = Math.max(d1, d2);
  const h1 = dmax <= 1e-15 ? Math.max(1e-6, h0 * 1e-3) : Math.pow(0.01 / dmax, 1 / q);
  return Math.min(100 * h0, h1, hmax, span);
}

function nonFiniteMessage(fault: Fault, t: number, h: number): string {
  return `${fault.what} is not finite (NaN or ±Infinity) at t = ${fmt(fault.time)} `
    + `(during the step from t = ${fmt(t)} with h = ${fmt(h)}). Check the model/RHS for a `
    + `singularity, a division by zero or an overflow near this time; if the solution itself `
    + `blows up, integrate over a shorter time span, or try a smaller tolerance (rtol/atol), `
    + `h0 or hmax.`;
}

/**
 * Integrates with `stepper` from (t0, y0) to T (T ≥ t0): attempt a step of size h (shortened
 * to end at T, stretched by ≤ 1% to avoid a sliver), accept it iff err ≤ 1, choose the next h
 * with the controller (capped by hmax), fill the output times that the accepted step covers
 * from the stepper's dense output. A stepper without dense output ends its steps on the output
 * times instead (a step reaching within 1e-14 relative of the next one is shortened to it), and
 * the step after such a shortened one is not smaller than the one proposed before it. `f` is the user's RHS (for the starting-step probe);
 * `defaultController` makes the method's controller when `opts.controller` is not given.
 * Stiffness (explicit methods, HNW II §IV.2): h·ρ above the method's threshold on 15 accepted
 * steps, with fewer than 6 non-stiff verdicts in between (Hairer's rule), sets `detected`.
 *
 * @example
 *   const counters = { rhsEvals: 0, jvpEvals: 0 };
 *   const stepper = new ExplicitStepper(DOP853, f, n, { rtol: 1e-10, atol: 1e-12 }, counters, { dense: true, stiffness: true });
 *   const res = integrate(stepper, f, 0, y0, 5, { times: [1, 2, 5] }, counters, () => piController());
 */
export function integrate(stepper: Stepper, f: Rhs, t0: number, y0: Float64Array, T: number,
  opts: SolveOptions, counters: Counters, defaultController: () => StepController): SolveResult {
  const n = y0.length;
  if (stepper.n !== n) throw new Error('internal: stepper dimension mismatch');
  if (!Number.isFinite(t0) || !Number.isFinite(T)) throw new RangeError(`t0 and T must be finite (got ${t0}, ${T})`);
  if (T < t0) throw new RangeError(`solve integrates forward only: need T ≥ t0 (got t0 = ${t0}, T = ${T})`);
  const tol = resolveTolerances(opts);
  const maxSteps = opts.maxSteps ?? 1e6;
  if (!(maxSteps >= 1)) throw new RangeError(`maxSteps must be ≥ 1 (got ${maxSteps})`);
  const maxTime = opts.maxTime ?? Infinity;
  if (!(maxTime > 0)) throw new RangeError(`maxTime must be > 0 seconds (got ${maxTime})`);
  const started = performance.now();
  const watch = opts.monitor;
  const span = T - t0;
  const hmax = opts.hmax ?? span;
  if (!(hmax > 0) && span > 0) throw new RangeError(`hmax must be > 0 (got ${hmax})`);
  const fixed = opts.fixedStep;
  if (fixed !== undefined && !(fixed > 0 && Number.isFinite(fixed))) {
    throw new RangeError(`fixedStep must be a finite positive number (got ${fixed})`);
  }
  if (opts.h0 !== undefined && !(opts.h0 > 0 && Number.isFinite(opts.h0))) {
    throw new RangeError(`h0 must be a finite positive number (got ${opts.h0})`);
  }
  const outT = opts.times ? opts.times.slice() : [t0, T];
  for (let i = 0; i < outT.length; i++) {
    const ti = outT[i]!;
    if (!(ti >= t0 && ti <= T)) throw new RangeError(`times[${i}] = ${ti} is outside [t0, T] = [${t0}, ${T}]`);
    if (i > 0 && ti < outT[i - 1]!) throw new RangeError(`times must be sorted ascending (times[${i}] = ${ti} < times[${i - 1}] = ${outT[i - 1]})`);
  }
  // Output storage is allocated up front: the step loop itself allocates nothing.
  const outY = outT.map(() => new Float64Array(n));
  let nOut = 0;
  const detect = opts.detectStiffness ?? true;
  const ctrl = makeController(opts.controller, defaultController);
  ctrl.reset(stepper.errorExponent);

  let t = t0, h = 0, steps = 0, rejected = 0;
  let status: SolveStatus = 'ok';
  let message: string | undefined;
  const stiff = { detected: false, estimate: null as number | null, atTime: null as number | null, lambdaMax: null as number | null };
  let stiffCount = 0, nonStiffCount = 0;

  const finish = (): SolveResult => ({
    t: outT.slice(0, nOut), y: outY.slice(0, nOut),
    stats: { steps, rejected, rhsEvals: counters.rhsEvals, jvpEvals: counters.jvpEvals },
    stiffness: stiff, status, ...(message !== undefined ? { message } : {}),
    tFinal: t, yFinal: Float64Array.from(steps === 0 ? y0 : stepper.y),
  });

  if (!allFinite(y0)) {
    status = 'nonFinite';
    message = `the initial value y0 contains NaN or ±Infinity; nothing was integrated.`;
    return finish();
  }
  while (nOut < outT.length && outT[nOut] === t0) outY[nOut++]!.set(y0);
  const initFault = stepper.init(t0, y0);
  if (initFault) {
    status = 'nonFinite';
    message = `${initFault.what} is not finite (NaN or ±Infinity) at the initial point t = ${fmt(t0)}; `
      + `check the model/RHS at y0.`;
    return finish();
  }
  if (span === 0) return finish();

  if (fixed !== undefined) h = fixed;
  else if (opts.h0 !== undefined) h = opts.h0;
  else if (stepper.startStep) h = stepper.startStep(span);
  else h = initialStep(f, t0, y0, stepper.f0, span, hmax, stepper.errorExponent, tol, counters);
  h = Math.min(h, hmax);
  // A fixed step may end within rounding of T; an adaptive one stretches by ≤ 1% to avoid a sliver.
  const stretch = fixed !== undefined ? 1 + 1e-9 : 1.01;
  // Without dense output the steps end on the output times.
  const land = stepper.dense === undefined;
  stepper.prepare?.(t, h);
  /**
   * After an attempt from t of size hs: past maxTime, or stopped by the caller's monitor? Sets
   * the status and message and returns true to end the loop (only checks the clock when asked to).
   */
  const watching = (hs: number, accepted: boolean): boolean => {
    if (maxTime === Infinity && !watch) return false;
    const elapsed = (performance.now() - started) / 1000;
    const stop = watch?.({ t, h: hs, accepted, steps: steps + rejected, rejected, elapsed });
    if (typeof stop === 'string') { status = 'stopped'; message = stop; return true; }
    if (elapsed > maxTime) {
      status = 'maxTime';
      message = `the time limit of ${fmt(maxTime)} s was reached at t = ${fmt(t)} (T = ${fmt(T)}, ${steps} steps `
        + `accepted, ${rejected} rejected, last h = ${fmt(hs)}). Raise the limit, loosen rtol/atol, or integrate over a shorter time span.`;
      return true;
    }
    return false;
  };

  for (;;) {
    if (steps + rejected >= maxSteps) {
      status = 'maxSteps';
      message = `maxSteps = ${maxSteps} attempted steps reached at t = ${fmt(t)} (T = ${fmt(T)}, last h = ${fmt(h)}). `
        + (stiff.detected
          ? `The problem is stiff (detected at t = ${fmt(stiff.atTime!)}): use method 'rosenbrock'.`
          : `Raise maxSteps, loosen rtol/atol, or, if the problem is stiff, use method 'rosenbrock'.`);
      break;
    }
    if (!(h > 1e-14 * Math.abs(t)) || !(h > 0)) {
      status = 'stepTooSmall';
      message = `the step size fell to h = ${fmt(h)} < 1e-14·|t| at t = ${fmt(t)}: the solution is likely `
        + `singular (blowing up) near this time, or the tolerance is too tight for double precision. `
        + `Try a looser rtol/atol or a shorter time span.` + (stepper.note ? ` (${stepper.note})` : '');
      break;
    }
    // hs: this attempt's step, h shortened to end on the goal (T, or the next output time when
    // landing); h stays the controller's proposal.
    const goal = land && nOut < outT.length ? outT[nOut]! : T;
    let hs = h, reach = false;
    if (land ? t + h >= goal - 1e-14 * Math.abs(goal) : t + stretch * h >= T) { hs = goal - t; reach = true; }
    const last = reach && goal === T;
    const r = stepper.attempt(t, hs);
    if (isFault(r)) { status = 'nonFinite'; message = nonFiniteMessage(r, t, hs); break; }
    if (fixed === undefined && !(r <= 1)) {
      rejected++;
      h = hs * ctrl.rejected(r, stepper.errorExponent);
      if (watching(hs, false)) break;
      continue;
    }
    const tNew = reach ? goal : t + hs;
    const needDense = !land && nOut < outT.length && outT[nOut]! < tNew;
    const fa = stepper.accept(t, hs, needDense, tNew);
    // On a fault the stepper keeps the old state: (t, y) stay consistent for tFinal/yFinal.
    if (fa) { status = 'nonFinite'; message = nonFiniteMessage(fa, t, hs); break; }
    steps++;
    if (detect && stepper.stiffnessThreshold !== null && !stiff.detected) {
      // Hairer's rule (DOPRI5/DOP853): 15 stiff verdicts, interrupted by fewer than 6 non-stiff ones.
      const hr = stepper.lastStiffness;
      if (hr > stepper.stiffnessThreshold) {
        nonStiffCount = 0;
        if (++stiffCount >= 15) {
          stiff.detected = true; stiff.estimate = hr; stiff.atTime = tNew; stiff.lambdaMax = hr / hs;
        }
      } else if (hr === hr && ++nonStiffCount >= 6) {
        stiffCount = 0;
      }
    }
    while (nOut < outT.length && outT[nOut]! <= tNew) {
      const to = outT[nOut]!;
      if (to === tNew) outY[nOut]!.set(stepper.y);
      else stepper.dense!(Math.min(1, Math.max(0, (to - t) / hs)), outY[nOut]!);
      nOut++;
    }
    t = tNew;
    if (opts.onStep && opts.onStep(t, stepper.y) === false) {
      if (!last) { status = 'stopped'; message = `stopped by onStep at t = ${fmt(t)} (T = ${fmt(T)}).`; }
      break;
    }
    if (last || watching(hs, true)) break;
    if (fixed === undefined) {
      const fac = ctrl.accepted(r, stepper.errorExponent);
      // a step shortened onto an output time does not shrink the next one
      h = Math.min(reach ? Math.max(h, hs * fac) : hs * fac, hmax);
    }
    stepper.prepare?.(t, h);
  }
  return finish();
}
