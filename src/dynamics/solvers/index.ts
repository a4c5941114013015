/**
 * ODE solvers for the gradient flows of `src/dynamics` (weight space, dimension up to ~10⁶,
 * and small function-space systems such as dr/dt = −K r).
 *
 * A method is a tableau plus a stepper; step-size control (`controller.ts`) and the
 * integration loop (`driver.ts`) are shared. Methods:
 * - 'dopri5'     Dormand–Prince 5(4), 4th-order dense output (HNW I §II.5–II.6, Hairer's DOPRI5);
 * - 'dop853'     Dormand–Prince 8(5,3), 7th-order dense output (HNW I §II.10, Hairer's DOP853);
 * - 'rosenbrock' RODAS4, order 4(3), L-stable, matrix-free: stage systems (I − γhJ)x = b by
 *                restarted GMRES on `jvp` products (Hairer–Wanner II §IV.7), 3rd-order dense
 *                output. For stiff flows (ill-conditioned NTK).
 * - 'exponential' exponential Adams PECE of variable order (up to `maxOrder` + 1) on a low-rank
 *                stiff part (`lowRank`; `etd-adams.ts`); no dense output (steps end on the
 *                output times). For stiff gradient flows on the square loss (the Gauss–Newton part).
 * - 'etdrk4'     ETDRK4 (Cox–Matthews) with step doubling and Richardson extrapolation on the same
 *                split (`etd.ts`); no dense output.
 * Each is one row of `METHODS`: its orders and how it makes its stepper and controller.
 */
import { iController, piController, type StepController } from './controller.ts';
import { integrate, resolveTolerances, type Counters, type Stepper, type Tolerances } from './driver.ts';
import { etdRk4Stepper, NO_STIFF_PART, PLAIN_LOW_RANK_OPS, type LowRankOptions } from './etd.ts';
import { etdAdamsStepper } from './etd-adams.ts';
import { DOP853 } from './dop853.ts';
import { DOPRI5 } from './dopri5.ts';
import { ExplicitStepper } from './explicit.ts';
import { RODAS4, RosenbrockStepper } from './rosenbrock.ts';
import type { Rhs, RhsJvp, SolveOptions, SolveResult } from './types.ts';

export type { Rhs, RhsJvp, RhsDt, SolveOptions, SolveResult, SolveStatus, StepAttempt, KrylovOptions } from './types.ts';
export { iController, piController, type StepController, type ControllerOptions, type PIControllerOptions } from './controller.ts';
export { Gmres, type LinearOperator } from './gmres.ts';
export { DOPRI5 } from './dopri5.ts';
export { DOP853 } from './dop853.ts';
export { RODAS4, type RosenbrockTableau } from './rosenbrock.ts';
export type { ExplicitTableau } from './explicit.ts';

export { phiScalar, NO_STIFF_PART, PLAIN_LOW_RANK_OPS, type LowRankStiff, type LowRankOps, type LowRankOptions } from './etd.ts';

/** What a method's stepper is made from: the RHS, the dimension, tolerances, the counters, the options. */
interface StepperInputs {
  f: Rhs;
  n: number;
  tol: Tolerances;
  counters: Counters;
  opts: SolveOptions;
  /** Output times strictly inside (t0, T): the stepper must prepare dense output. */
  dense: boolean;
}

export interface MethodInfo {
  readonly name: 'dopri5' | 'dop853' | 'rosenbrock' | 'exponential' | 'etdrk4';
  /** Order of the solution (exponential Adams: with its default `maxOrder`, after its start-up). */
  readonly order: number;
  /** Order of the solution compared with it for the error estimate. */
  readonly embeddedOrder: number;
  /** Order of the dense output (its local error is O(h^(denseOrder+1))); null: none, the steps end on the output times. */
  readonly denseOrder: number | null;
  /** For stiff problems: 'jvp' (needs `jvp`), 'lowRank' (uses `lowRank`'s stiff part), or false. */
  readonly stiff: false | 'jvp' | 'lowRank';
  readonly scheme: string;
  /** The method's stepper, and its step-size controller unless `opts.controller` says otherwise. */
  readonly make: (x: StepperInputs) => { stepper: Stepper; controller: () => StepController };
}

/** `lowRank` of the options, or none (A = 0). */
const lowRankOf = (opts: SolveOptions): LowRankOptions => opts.lowRank ?? { linearPart: () => NO_STIFF_PART, ops: PLAIN_LOW_RANK_OPS };

/**
 * The available methods: orders, and how each makes its stepper and its controller.
 * - DOPRI5 and DOP853 share Hairer's DOPRI5 controller (PI, β = 0.04). Hairer's DOP853 default
 *   β = 0 (an I controller) rejects often at the stability boundary, and the stiff components it
 *   excites are amplified by DOP853's large dense-output coefficients (|d| up to ~500).
 * - The exponential methods: an I controller, growth ≤ 5 (ETDRK4) or ≤ 2 (Adams: it keeps the
 *   interpolation through past steps well conditioned), without the hold after a rejection.
 */
export const METHODS: readonly MethodInfo[] = [
  {
    name: 'exponential', order: 6, embeddedOrder: 5, denseOrder: null, stiff: 'lowRank', scheme: 'exponential Adams PECE, variable order',
    make: ({ f, n, tol, counters, opts }) => ({
      stepper: etdAdamsStepper(f, n, tol, counters, { ...lowRankOf(opts), ...(opts.maxOrder === undefined ? {} : { maxOrder: opts.maxOrder }) }),
      controller: () => iController({ facMax: 2, holdAfterReject: false }),
    }),
  },
  {
    name: 'etdrk4', order: 5, embeddedOrder: 4, denseOrder: null, stiff: 'lowRank', scheme: 'ETDRK4, step doubling (extrapolated)',
    make: ({ f, n, tol, counters, opts }) => ({
      stepper: etdRk4Stepper(f, n, tol, counters, lowRankOf(opts)),
      controller: () => iController({ facMax: 5, holdAfterReject: false }),
    }),
  },
  {
    name: 'dopri5', order: 5, embeddedOrder: 4, denseOrder: 4, stiff: false, scheme: 'Dormand–Prince 5(4)',
    make: ({ f, n, tol, counters, opts, dense }) => ({
      stepper: new ExplicitStepper(DOPRI5, f, n, tol, counters, { dense, stiffness: opts.detectStiffness ?? true }),
      controller: () => piController(),
    }),
  },
  {
    name: 'dop853', order: 8, embeddedOrder: 5, denseOrder: 7, stiff: false, scheme: 'Dormand–Prince 8(5,3)',
    make: ({ f, n, tol, counters, opts, dense }) => ({
      stepper: new ExplicitStepper(DOP853, f, n, tol, counters, { dense, stiffness: opts.detectStiffness ?? true }),
      controller: () => piController(),
    }),
  },
  {
    name: 'rosenbrock', order: 4, embeddedOrder: 3, denseOrder: 3, stiff: 'jvp', scheme: 'RODAS4 + GMRES',
    make: ({ f, n, tol, counters, opts, dense }) => {
      if (!opts.jvp) {
        throw new TypeError(`method 'rosenbrock' needs opts.jvp, the product v ↦ ∂f/∂y(t, y)·v `
          + `(e.g. from forward-mode AD, or finiteDifferenceJvp(f, n) at reduced accuracy)`);
      }
      const stepper = new RosenbrockStepper(RODAS4, f, n, tol, counters, {
        jvp: opts.jvp, dense, autonomous: opts.autonomous ?? false, fixed: opts.fixedStep !== undefined,
        ...(opts.dfdt ? { dfdt: opts.dfdt } : {}), ...(opts.krylov ? { krylov: opts.krylov } : {}),
      });
      return { stepper, controller: () => piController({ facMax: 6 }) };
    },
  },
];

/** The name of an ODE method of the flow (`--method`): 'exponential', 'etdrk4', 'dopri5', 'dop853', 'rosenbrock' (`FLOW_METHODS` adds 'auto'). */
export type MethodName = MethodInfo['name'];

/**
 * Integrate dy/dt = f(t, y), y(t0) = y0 on [t0, T] (T ≥ t0) with adaptive steps: a step is
 * accepted when RMS_i(err_i / (atol + rtol·max(|y_i|, |y_new,i|))) ≤ 1 (Hairer–Nørsett–Wanner
 * I §II.4; II §IV.7 for the stiff method), the next step from the method's controller. Values
 * at `times` come from the dense output (or are step ends, for the exponential methods). Faults
 * do not throw: they end the solve with a status ('nonFinite', 'stepTooSmall', 'maxSteps') and
 * a message; invalid arguments throw RangeError.
 *
 * @example
 *   // Gradient flow on L(w) = ½‖w − w*‖²_H:  dw/dt = −H (w − w*), stiff if H is ill-conditioned.
 *   const f = (t: number, w: Float64Array, dw: Float64Array) => { … dw = −H(w − w*) … };
 *   const jvp = (t: number, w: Float64Array, v: Float64Array, out: Float64Array) => { … out = −H v … };
 *   const res = solve('rosenbrock', f, 0, w0, 100, { jvp, rtol: 1e-6, autonomous: true, times: [1, 10, 100] });
 *   if (res.status !== 'ok') throw new Error(res.message);
 *   const wAt10 = res.y[1];
 */
export function solve(method: MethodName, f: Rhs, t0: number, y0: Float64Array, T: number,
  opts: SolveOptions = {}): SolveResult {
  const info = METHODS.find((m) => m.name === method);
  if (!info) throw new RangeError(`unknown method '${String(method)}' (known: ${METHODS.map((m) => m.name).join(', ')})`);
  const tol = resolveTolerances(opts);
  const counters: Counters = { rhsEvals: 0, jvpEvals: 0 };
  const dense = opts.times !== undefined && opts.times.some((ti) => ti > t0 && ti < T);
  const { stepper, controller } = info.make({ f, n: y0.length, tol, counters, opts, dense });
  return integrate(stepper, f, t0, y0, T, opts, counters, controller);
}

/**
 * A Jacobian-vector product by a forward difference, J v ≈ (f(t, y + εv) − f(t, y))/ε with
 * ε = √u·(1 + ‖y‖)/‖v‖ (u the unit roundoff): about half the digits of an exact product, which
 * limits the attainable accuracy of the Rosenbrock method to roughly rtol ≳ 1e-7. Costs two RHS
 * calls per product (not counted in `stats.rhsEvals`). Allocates its two buffers once.
 *
 * @example
 *   solve('rosenbrock', f, 0, y0, 10, { jvp: finiteDifferenceJvp(f, y0.length) });
 */
export function finiteDifferenceJvp(f: Rhs, n: number): RhsJvp {
  const yp = new Float64Array(n), fp = new Float64Array(n), f0 = new Float64Array(n);
  return (t, y, v, out) => {
    let ny = 0, nv = 0;
    for (let i = 0; i < n; i++) { ny += y[i]! * y[i]!; nv += v[i]! * v[i]!; }
    if (nv === 0) { out.fill(0); return; }
    const eps = 1.4901161193847656e-8 * (1 + Math.sqrt(ny)) / Math.sqrt(nv);
    for (let i = 0; i < n; i++) yp[i] = y[i]! + eps * v[i]!;
    f(t, yp, fp);
    f(t, y, f0);
    for (let i = 0; i < n; i++) out[i] = (fp[i]! - f0[i]!) / eps;
  };
}
