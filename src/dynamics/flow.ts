/**
 * The gradient flow of the rescaled model α·h next to its linearization, and the error of the
 * NTK approximation (docs/math.md §1):
 *
 *   dw/dt = −(1/α²) ∇_w R(α h(w)) = −(1/α) Dh(w)ᵀ ∇R(α h(w)),   w(0) = w0
 *   E(T)  = ‖α h(w(T)) − α h̄(w̄(T))‖,  h̄ the linearization of h at w0.
 *
 * In the lazy regime E(T) is many orders of magnitude below the outputs, so it is not computed as
 * the difference of two separately integrated flows. The linearized flow is exact (closed form,
 * `linearized.ts`), and the ODE is solved for the deviation δ(t) = w(t) − w̄(t):
 *
 *   dδ/dt = −(1/α²) ∇L(w̄(t) + δ) − (1/α) J0ᵀ r̄(t),   δ(0) = 0,
 *
 * whose size is that of the nonlinear effect itself, so the solver's relative tolerance applies
 * to δ, not to w. The achieved accuracy of E(T) is estimated by a second solve at a looser
 * tolerance (10× for exponential Adams, 100× for the other methods).
 *
 * Any other loss R: the linearized flow has no closed form, but it lives in function space,
 * dv̄/dt = −K0 ∇R(v̄) for v̄ = α·h̄(w̄), with w̄(t) − w0 = −(1/α) J0ᵀ ∫₀ᵗ ∇R(v̄); v̄ and that
 * integral (2k numbers) are integrated next to δ. Stiff flows under the square loss use a
 * low-rank exponential integrator whose stiff part is the Gauss–Newton matrix −JᵀJ: exponential
 * Adams (`solvers/etd-adams.ts`, two gradients a step; `--method exponential`, what 'auto'
 * picks) or ETDRK4 with step doubling (`solvers/etd.ts`, eleven; `--method etdrk4`, the
 * one-step reference). The bounds of the theory are for the square loss and say so otherwise.
 */
import { ensureMemory } from '../runtime/memory.ts';
import type { Model } from '../ir/model.ts';
import { Evaluator, jacobianBlockBytes } from '../evaluator/evaluator.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { boundsReport, withinBall, type BoundsReport } from './bounds.ts';
import { kernelSpectrum, LinearizedFlow } from './linearized.ts';
import { lazyVariables, quadratureError } from './flow-lazy.ts';
import { linearizedProducts } from './flow-linear.ts';
import { gaussNewtonParts } from './gauss-newton.ts';
import { METHODS, solve, type MethodName, type SolveResult, type StepAttempt } from './solvers/index.ts';
import { linearizedTestPredictor } from './predict.ts';
import { kernelName } from '../ir/rates.ts';
import { stepWatch, type StepWatchState } from './step-watch.ts';

/**
 * What to try when a flow of a non-smooth model stalls at its kinks (the options are the CLI's;
 * the library's are `method`, `rtol` and `gradientDescent`).
 * @example try { flow(model, { alpha: 1, T: 100, maxTime: 10 }) } catch (e) { e.message.endsWith(NON_SMOOTH_ADVICE) } // a stalled flow of a relu model
 */
export const NON_SMOOTH_ADVICE = 'Try a smooth surrogate of relu, e.g. softplus(β·x)/β with β = 10, or gelu; '
  + 'or --method dopri5 --rtol 1e-3 (a looser tolerance steps over the kinks, and E(T) is about as accurate as that), '
  + 'with --max-time S to let it run up to S seconds; '
  + 'or gradient descent with a learning rate, --lr η --steps N with η·N = T (it takes no step-size control at kinks).';

/**
 * The integrator of `flow`: every method of the solvers' table (`METHODS`), or 'auto', which picks
 * DOP853 for mild flows and the exponential method when λmax(K0)·T is large (stiff).
 */
export type FlowMethod = 'auto' | MethodName;
/**
 * The values of `FlowMethod` (the CLI's --method choices).
 * @example FLOW_METHODS.includes('exponential') // true
 */
export const FLOW_METHODS: readonly FlowMethod[] = ['auto', ...METHODS.map((m) => m.name)];

/**
 * Options of `flow`: α, the horizon T, the times to report E(t) at, the method and tolerances, the
 * Lipschitz constants on B(w0, ρ) when known (for the bounds), and whether to estimate E's accuracy.
 */
export interface FlowOptions {
  alpha: number;
  T: number;
  /** Times (in (0, T]) at which to report E(t) and the weight changes. */
  times?: number[];
  method?: FlowMethod;
  rtol?: number;
  atol?: number;
  /** Known constants on the ball B(w0, ρ); null/undefined: unknown. */
  lipH?: number | null;
  lipDh?: number | null;
  radius?: number | null;
  /** Estimate the achieved accuracy of E(T) with a second, looser solve (default true). */
  accuracy?: boolean;
  /**
   * This solve is the accuracy check of another one with the same options: it runs at the
   * check tolerance (rtol 10× looser for exponential Adams, 100× for the other methods) and
   * makes no check of its own. Its E(T) against the other's is the other's `errorAccuracy`
   * (`accuracyFrom`); the CLI runs it on a worker thread, next to the main solve.
   */
  check?: boolean;
  /**
   * Limit on the solver's attempted steps, per solve (default 1e6): past it the flow throws a
   * FlowError saying where it stood and what to try (`--max-steps`).
   */
  maxSteps?: number;
  /** Limit on the flow's wall-clock time in seconds, all its solves together (default none; `--max-time`). */
  maxTime?: number;
  /**
   * The watchdog on non-smooth models (`step-watch.ts`): a flow whose steps keep collapsing at
   * relu kinks is stopped once, after `graceSeconds` (default 2) of work, its rate of progress
   * projects more than `budgetSeconds` (default 30, or `maxTime` when given) to reach T. false: it
   * never stops the flow (its count of collapses still explains a limit reached).
   */
  watch?: false | { graceSeconds?: number; budgetSeconds?: number };
  /**
   * The variables the flow is integrated in (`flow-lazy.ts`): 'direct' (δ = w − w̄), 'lazy' (ẽ =
   * α²δ and the Taylor remainder, no cancellation at any α; square loss, smooth models), or
   * 'auto' (default): lazy where the direct solve's rounding floor (`DIRECT_FLOOR`) would exceed a
   * tenth of the tolerance's share of E, estimated as ‖D²h(w0)[ū(T), ū(T)]‖/(2α).
   */
  variables?: 'auto' | 'direct' | 'lazy';
  /**
   * Progress: the time reached, the horizon, and the solver's state (steps, rejections, the last
   * step size, collapses, the projected time to T): after every attempted step, rejected ones too.
   */
  onProgress?: (t: number, T: number, state?: StepWatchState) => void;
}

/**
 * E(t) = ‖α h(w(t)) − α h̄(w̄(t))‖ and the weight changes ‖w(t) − w0‖, ‖w̄(t) − w0‖ at one reported time.
 */
export interface FlowPoint {
  t: number;
  error: number;
  weightChange: number;
  linWeightChange: number;
}

/**
 * What `flow` reports: α·h(w(T)) and α·h̄(w̄(T)), their distance E(T) (`error`) with its estimated
 * accuracy, the losses, the weight changes, the bounds of the theory (docs/math.md §1), the
 * trajectory, and the solver's work.
 */
export interface FlowResult {
  alpha: number;
  T: number;
  R0: number;
  /** α·h(w(T)) and α·h̄(w̄(T)). */
  out: Float64Array;
  linOut: Float64Array;
  /**
   * On the model's held-out inputs (a `test` declaration; null without one): α·g(w(T)), the
   * linearized prediction α·ḡ(w̄(T)) = α(g(w0) + Dg(w0)(w̄(T) − w0)) (Lee et al. 2019, eq. 19), and
   * their distance, the NTK approximation's error off the training set.
   */
  test: { out: Float64Array; linOut: Float64Array; error: number } | null;
  error: number;
  /**
   * Estimated absolute accuracy of `error` (null when not estimated): the larger of the
   * difference to the looser check solve and the rounding floor `errorFloor`; never 0.
   */
  errorAccuracy: number | null;
  /**
   * The rounding floor of `error`: what the variables integrated in cannot resolve, whatever the
   * tolerance (direct: DIRECT_FLOOR·ε·(‖y*‖ + ‖α·h(w0)‖); lazy: LAZY_FLOOR·ε·(‖J0ẽ‖ + ‖q‖)/α).
   */
  errorFloor: number;
  /** The variables integrated in: 'direct' (δ = w − w̄) or 'lazy' (ẽ = α²δ, `flow-lazy.ts`). */
  variables: 'direct' | 'lazy';
  weightChange: number;
  linWeightChange: number;
  /** sup over accepted steps of ‖w(t) − w0‖ (whether the weights stayed in the ball). */
  maxWeightChange: number;
  loss: number;
  linLoss: number;
  lipH: number | null;
  lipDh: number | null;
  radius: number | null;
  stayedInBall: boolean | null;
  /** κ = (T/α)·Lip(Dh)·√R0 (null when Lip(Dh) is unknown or the theorems do not apply). */
  kappa: number | null;
  /**
   * The bounds under the names of `ntk flow --json`: Theorem 1.2 (`bound`), its proof's sharper
   * form, Proposition 1.1 (`chizatBound`), Proposition 3.1 on ‖w(T) − w0‖ (`weightBound`); null
   * where a bound does not apply, with the reason in `boundNotes` and `theory`.
   */
  bound: number | null;
  sharpBound: number | null;
  chizatBound: number | null;
  weightBound: number | null;
  boundNotes: { theorem12: string | null; prop11: string | null };
  horizons: { theorem12: number | null; prop11: number | null };
  /** Every bound with its note, validity horizon and whether T is within it (`boundsReport`). */
  theory: BoundsReport;
  trajectory: FlowPoint[];
  method: Exclude<FlowMethod, 'auto'>;
  /** Solver work; `jacobians` counts the refreshes of the exponential method's Gauss–Newton part. */
  stats: SolveResult['stats'] & { jacobians: number };
  stiffness: SolveResult['stiffness'];
  /** K0's spectrum, and which kernel it is (`name`: 'Dh·Dhᵀ', or 'Dh·H·Dhᵀ with H = …' under per-parameter rates). */
  kernel: { name: string; lambdaMin: number; lambdaMax: number; clipped: number; indefinite: boolean };
  warnings: string[];
}

/**
 * The exponential Adams method's highest predictor order (its corrector is one higher): the
 * highest the φ-functions allow (`etd-adams.ts`). Against order 5, measured at rtol 1e-5 on five
 * stiff mean-field flows (W2 at α = 1, 4 and 16; two smaller ones): 15–20% fewer steps, and E
 * as close or closer to an rtol-1e-9 reference on each (W2: 256 → 218 steps, E off by 2.1e-9
 * → 1.4e-9).
 */
const ADAMS_ORDER = 7;

/**
 * Default tolerances on δ per method, and how much looser the accuracy check runs. The explicit
 * methods are cheap at tight tolerances (order 8), the exponential ones are not; δ's relative
 * accuracy carries over to E either way, and the achieved accuracy of E is measured by a second
 * solve `check` times looser. Exponential Adams keeps its corrector while its estimate is the
 * predictor's error, so its actual error is about 100× below the tolerance (measured on five
 * stiff mean-field flows: E within 1.4e-8 relative at rtol 1e-5): a 10× looser check still
 * bounds it, and costs less.
 */
const FLOW_TOLERANCE: Record<MethodName, { rtol: number; check: number }> = {
  exponential: { rtol: 1e-5, check: 10 },
  etdrk4: { rtol: 1e-6, check: 100 },
  dopri5: { rtol: 1e-10, check: 100 },
  dop853: { rtol: 1e-10, check: 100 },
  rosenbrock: { rtol: 1e-10, check: 100 },
};

/** λmax(K0)·T above which 'auto' integrates with the exponential method. */
const STIFF_AUTO = 200;

/**
 * A numerical fault in a flow: what happened, when, and what to try.
 * @example try { flow(model, { alpha: 1, T: 1e9 }) } catch (e) { if (e instanceof FlowError) console.error(e.message) } // what happened, when, what to try
 */
export class FlowError extends Error {}

/**
 * The rounding floor of E(T) from the direct variables, in units of ε·(‖y*‖ + ‖α·h(w0)‖): E is the
 * difference of two outputs of that size, and δ's right-hand side a difference of terms α/E times
 * larger than itself. Measured on Theorem 1.3's example against its closed form: absolute errors
 * of 1.6 to 330 ε at α = 1e6 … 1e12 (test/dynamics/flow-lazy.test.ts); 1024 covers them with room.
 */
export const DIRECT_FLOOR = 1024;
/** The rounding floor of E(T) from the lazy variables, in units of ε·(‖J0ẽ‖ + ‖q‖)/α (E = ‖J0ẽ + q‖/α). */
export const LAZY_FLOOR = 64;
const EPS = Number.EPSILON;

const norm = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
};

/**
 * What a flow needs before it starts, checked before anything costly (the CLI calls it before
 * estimating Lipschitz constants): a loss, α and T positive and finite, h(w0) finite, and an
 * initial loss R0 = R(α·h(w0)) that does not overflow. Throws FlowError naming the cause.
 * @example checkFlowStart(loadModel('examples/converse.ntk'), 1e300, 1) // FlowError: R0 overflows at α = 1e300
 */
export function checkFlowStart(model: Model, alpha: number, T: number, ev: Evaluator = new Evaluator(model)): void {
  if (!model.loss) throw new FlowError("the flow needs a loss: declare 'loss square(target = …)' or 'loss R(v) = …'");
  if (!(Number.isFinite(alpha) && alpha > 0)) throw new FlowError(`α must be a positive finite number, got ${alpha}`);
  if (!(Number.isFinite(T) && T > 0)) throw new FlowError(`T must be a positive finite number, got ${T}`);
  const h0 = ev.output(model.w0);
  const bad = h0.findIndex((x) => !Number.isFinite(x));
  if (bad >= 0)
    throw new FlowError(`h(w0) is not finite (output ${bad} is ${h0[bad]}): the flow cannot start; check the model and its initial weights`);
  const R0 = ev.loss(model.w0, alpha);
  if (!Number.isFinite(R0))
    throw new FlowError(`the initial loss R0 = R(α·h(w0)) is ${R0} at α = ${alpha}: α·h(w0) overflows; use a smaller --alpha`);
}

/**
 * Integrate the flow of α·h and its linearization to time T; report E(T) and the bounds (which
 * hold for the square loss; for any other loss they are reported as not applying).
 *
 * The flow is dw/dt = −(1/α²)∇_w R(α·h(w)) from w0, the linearized one the same with h̄(w) =
 * h(w0) + Dh(w0)(w − w0); E(T) = ‖α h(w(T)) − α h̄(w̄(T))‖, next to Theorem 1.2's bound
 * min(6κ√R0, √(8R0)) with κ = (T/α)·Lip(Dh)·√R0 (docs/math.md) and Proposition 1.1's
 * T·Lip(h)²·κ·√R0. δ = w − w̄ is integrated (not w), so that E keeps its digits when it is small.
 * Three parts: the δ-system (`deltaSystem`), the method policy and solve (`integrateFlow`, every
 * method through the solvers' one driver), the report (`flowReport`).
 *
 * @example
 *   const r = flow(loadModel('examples/converse.ntk'), { alpha: 10, T: 100, lipDh: 2 });
 *   r.error <= r.bound!   // Theorem 1.2
 */
export function flow(model: Model, opts: FlowOptions, ev: Evaluator = new Evaluator(model)): FlowResult {
  const { alpha, T } = opts;
  const warnings: string[] = [];
  checkFlowStart(model, alpha, T, ev);
  ensureFlowMemory(ev.k, ev.p, model.loss?.kind === 'square');
  const sys = deltaSystem(model, ev, alpha, T, warnings, opts);
  const run = integrateFlow(sys, opts, warnings);
  return flowReport(model, ev, sys, run, opts, warnings);
}

/**
 * State-sized vectors a solve holds at its peak, at most: DOP853's 16 stages with its dense
 * output's 8 coefficients and the step's y, y_new, error; the exponential Adams method's history
 * of 2·7 vectors, its stacked copy for `projectMany` and the stages of its start (ETDRK4).
 */
const FLOW_STATE_VECTORS = 40;

/**
 * The peak bytes one solve of `flow` holds besides its evaluator's buffers (which the evaluator
 * checks itself) and its report, for k outputs and p parameters (`deltaSystem`,
 * `linearizedProducts`, `gaussNewtonParts`): J0 (k·p); with the square loss B = J0ᵀV and the
 * compressed Lin (p·k each); the Gauss–Newton refresh's Jacobian and its two Q buffers (3·k·p);
 * K0 and its eigendecomposition, twice (K0's and the refresh's: 8·k², LAPACK's copy and
 * workspace included); `FLOW_STATE_VECTORS` vectors of the state (p, or p + 2k); and the
 * Jacobian's blocks while J0 is computed (`jacobianBlockBytes`).
 * @example flowWorkingSet(64, 100_000, true) // 8·(5·64·10⁵ + 8·64² + 40·(10⁵ + 128)) + 77 MB ≈ 365 MB
 */
export function flowWorkingSet(k: number, p: number, square: boolean): number {
  return 8 * ((square ? 5 : 3) * k * p + 8 * k * k + FLOW_STATE_VECTORS * (p + 2 * k)) + jacobianBlockBytes(k, p);
}

/**
 * Refuse (MemoryError), before J0 is computed, `solves` flows running at once whose working
 * sets (`flowWorkingSet`) would not fit the memory budget: `flow` and its check solve on a worker
 * thread (`ntk flow`), or a sweep's `workers` (then fewer --workers is one fix).
 * @example ensureFlowMemory(256, 66_000, true, 2) // ntk flow: the flow and its check solve
 */
export function ensureFlowMemory(k: number, p: number, square: boolean, solves = 1, workers = false): void {
  const bytes = solves * flowWorkingSet(k, p, square);
  ensureMemory(bytes, `the flow on ${k} outputs and ${p} parameters${solves > 1 ? ` (${solves} solves at once${workers ? ', one per worker' : ': the flow and its accuracy check'})` : ''}`,
    `${workers && solves > 1 ? 'fewer --workers, ' : ''}fewer outputs or parameters (--set), or raise --max-memory`);
}

/**
 * The ODE of a flow for the deviation δ = w − w̄ (the module comment), with what is needed to read
 * a state: the linearized flow, the right-hand side and its δ-Jacobian product, the exponential
 * methods' Gauss–Newton part, and y(t) ↦ the outputs and E(t).
 */
interface DeltaSystem {
  alpha: number;
  T: number;
  /** Square loss: the linearized flow in closed form; otherwise v̄ and c integrated next to δ. */
  square: boolean;
  ystar: Float64Array | null;
  k: number;
  p: number;
  w0: Float64Array;
  R0: number;
  spectrum: ReturnType<typeof kernelSpectrum>;
  /** (w̄(t) − w0, dw̄/dt) from the state (`flow-linear.ts`). */
  linAt: ReturnType<typeof linearizedProducts>['linAt'];
  rhs: (t: number, y: Float64Array, dy: Float64Array) => void;
  jvp: (t: number, delta: Float64Array, v: Float64Array, out: Float64Array) => void;
  gaussNewton: ReturnType<typeof gaussNewtonParts>;
  /** The initial state: δ = 0, and for a non-square loss v̄ = α·h(w0), c = 0. */
  start: () => Float64Array;
  /** Everything at time t from the state y(t) = (δ, [v̄, c]). */
  at: (t: number, y: Float64Array) => { out: Float64Array; linOut: Float64Array; error: number; weightChange: number; linWeightChange: number; wT: Float64Array; floor: number };
  /** R at an output vector. */
  lossAt: (v: Float64Array) => number;
  /** The model has a non-smooth function (relu, abs, sign): the watch stops a flow stalled at its kinks. */
  nonSmooth: boolean;
  /** The variables of the state: δ (direct) or ẽ = α²δ (lazy, `flow-lazy.ts`). */
  variables: 'direct' | 'lazy';
  /** ‖w(t) − w0‖ from the state. */
  weightChange: (t: number, y: Float64Array) => number;
}

/** The δ-system of the flow of α·h from w0 to T (warnings about K0 go to `warnings`). */
function deltaSystem(model: Model, ev: Evaluator, alpha: number, T: number, warnings: string[], opts: Pick<FlowOptions, 'variables' | 'rtol' | 'method'> = {}): DeltaSystem {
  // The square loss has the linearized flow in closed form; any other loss integrates it in
  // function space next to the flow (`flow-linear.ts`).
  const ystar = ev.target();
  const square = ystar !== null;
  const k = ev.k, p = ev.p;
  const w0 = model.w0;
  const h0 = ev.output(w0);
  const r0 = new Float64Array(k);
  if (square) for (let i = 0; i < k; i++) r0[i] = ystar[i]! - alpha * h0[i]!;
  const R0 = square ? 0.5 * norm(r0) ** 2 : ev.outputLoss(h0.map((x) => alpha * x)).value;

  const J0 = ev.jacobian(w0);
  const K0 = ntkFromJacobian(ev, J0);
  const spectrum = kernelSpectrum(K0, k, ev.backend);
  if (spectrum.indefinite)
    warnings.push(`the kernel K0 has a negative eigenvalue ${spectrum.minRaw.toExponential(3)} beyond round-off; it was clipped to 0`);
  const lin = new LinearizedFlow(spectrum, r0);
  const { linAt, unscaledAt, JtV, gradR } = linearizedProducts(ev, J0, spectrum, square ? lin.eigenCoordinates : null, alpha, T);

  // The deviation δ = w − w̄ and its right-hand side.
  const w = new Float64Array(p), shift = new Float64Array(p);
  const a2 = 1 / (alpha * alpha);
  // w = (w0 + shift) + δ and dy = −(1/α²)∇L − dw̄/dt, as the backend's vector sums (bitwise the
  // loops: 1·x = x and a + (−1)·b = a − b exactly)
  const combine = ev.backend.combine;
  const ones = Float64Array.of(1, 1), dyWeights = Float64Array.of(-a2, -1);
  /** w = w0 + (w̄(t) − w0) + δ into `w` (the linearized values at t returned too). */
  const weightsAt = (t: number, delta: Float64Array) => {
    const sv = linAt(t, delta);
    combine(w, w0, ones, [sv, delta], p);
    return sv;
  };
  const rhs = (t: number, y: Float64Array, dy: Float64Array) => {
    const sv = weightsAt(t, y);
    const { grad } = ev.grad(w, alpha, { copy: false }); // read at once, before the next grad call
    combine(dy, null, dyWeights, [grad, sv.subarray(p)], p);
    if (!square) {
      // dv̄/dt = −K0 ∇R(v̄), dc/dt = ∇R(v̄)
      ev.backend.gemm(false, false, k, 1, k, -1, K0, 0, k, gradR, 0, 1, 0, dy, p, 1);
      dy.set(gradR, p + k);
    }
  };
  // Jacobian of the RHS in δ: −(1/α²) ∇²L(w) (for the Rosenbrock method).
  const jvp = (t: number, delta: Float64Array, v: Float64Array, out: Float64Array) => {
    weightsAt(t, delta);
    const hv = ev.hvp(w, v, alpha);
    for (let i = 0; i < p; i++) out[i] = -a2 * hv[i]!;
  };
  // The exponential methods' stiff part: the Gauss–Newton matrix, refreshed along the flow.
  const gaussNewton = gaussNewtonParts(ev, J0, spectrum, JtV, T, (t, delta) => (weightsAt(t, delta), w), ADAMS_ORDER);
  const start = () => {
    const y0 = new Float64Array(square ? p : p + 2 * k);
    if (!square) for (let i = 0; i < k; i++) y0[p + i] = alpha * h0[i]!;
    return y0;
  };
  const direct = (t: number, y: Float64Array) => {
    shift.set(linAt(t, y).subarray(0, p));
    const wT = new Float64Array(p);
    for (let i = 0; i < p; i++) wT[i] = w0[i]! + shift[i]! + y[i]!;
    const hT = ev.output(wT);
    const out = hT.map((x) => alpha * x);
    const linOut = square ? lin.residual(t).map((x, i) => ystar[i]! - x) : y.slice(p, p + k);
    const diff = out.map((x, i) => x - linOut[i]!);
    for (let i = 0; i < p; i++) wT[i] -= w0[i]!;
    return { out, linOut, error: norm(diff), weightChange: norm(wT), linWeightChange: norm(shift), wT, floor: directFloor };
  };
  const lossAt = (v: Float64Array) => (square ? 0.5 * norm(v.map((x, i) => x - ystar[i]!)) ** 2 : ev.outputLoss(v).value);
  const directWeightChange = (t: number, delta: Float64Array) => {
    // ‖w(t) − w0‖ = ‖(w̄(t) − w0) + δ‖ in one pass
    const sv = linAt(t, delta);
    let s = 0;
    for (let i = 0; i < p; i++) {
      const d = sv[i]! + delta[i]!;
      s += d * d;
    }
    return Math.sqrt(s);
  };
  const directFloor = Math.max(directRounding(alpha, ystar, h0, spectrum.values[k - 1]!, w0), Number.MIN_VALUE);
  const base = { alpha, T, square, ystar, k, p, w0, R0, spectrum, linAt, start, lossAt, nonSmooth: model.nonSmooth };
  if (!square || !unscaledAt || !useLazy(model, ev, alpha, T, unscaledAt, spectrum.values[k - 1]!, directFloor, opts))
    return { ...base, rhs, jvp, gaussNewton, at: direct, variables: 'direct', weightChange: directWeightChange };

  // Lazy variables (`flow-lazy.ts`): the state is ẽ = α²δ; they read ū = α(w̄ − w0) from the same
  // linearized products, unscaled (at α ~ 1e300, w̄ − w0 itself is within a few powers of ten of
  // the subnormal numbers, where digits are lost).
  const lazy = lazyVariables(ev, w0, J0, alpha, lin, unscaledAt);
  const at = (t: number, y: Float64Array) => {
    const { d, u, ubar, scale, quadrature } = lazy.at(t, y);
    const linOut = lin.residual(t).map((x, i) => ystar[i]! - x);
    const out = linOut.map((x, i) => x + d[i]! / alpha);
    return {
      out, linOut, error: norm(d) / alpha, weightChange: norm(u) / alpha, linWeightChange: norm(ubar) / alpha, wT: u.map((x) => x / alpha),
      floor: Math.max((LAZY_FLOOR * EPS * scale) / alpha + (quadrature * norm(d)) / alpha, Number.MIN_VALUE),
    };
  };
  return {
    ...base, rhs: lazy.rhs, jvp: lazy.jvp, at, variables: 'lazy', weightChange: lazy.weightChange,
    gaussNewton: gaussNewtonParts(ev, J0, spectrum, JtV, T, lazy.weightsAt, ADAMS_ORDER),
  };
}

/**
 * The rounding floor of E(T) in the direct variables: E is a difference of outputs of size
 * ‖y*‖ + ‖α·h(w0)‖ (DIRECT_FLOOR ε of it), and the weights w = w0 + Δ round to ε·|w0| a component,
 * which moves α·h by up to α·ε·‖J0‖·‖w0‖ (twice that for the gradient's own evaluation).
 * @example directRounding(1e6, ystar, h0, lambdaMax, w0) // grows like α when w0 ≠ 0
 */
export function directRounding(alpha: number, ystar: Float64Array | null, h0: Float64Array, lambdaMax: number, w0: Float64Array): number {
  return EPS * (DIRECT_FLOOR * ((ystar ? norm(ystar) : 0) + alpha * norm(h0)) + 2 * alpha * Math.sqrt(Math.max(lambdaMax, 0)) * norm(w0));
}

/**
 * Whether `flow` integrates in lazy variables (`FlowOptions.variables`): asked for, or under
 * 'auto' for a smooth model under the square loss where the direct variables' rounding floor
 * (`directRounding`) exceeds a tenth of the tolerance times an estimate of E,
 * Ê = ‖D²h(w0)[ū(T), ū(T)]‖/(2α) (the leading term of q/α), and the lazy variables' quadrature,
 * probed over the linearized displacement ū(T)/α, is more accurate than that floor.
 */
function useLazy(model: Model, ev: Evaluator, alpha: number, T: number, unscaledAt: (t: number) => Float64Array, lambdaMax: number,
  floor: number, opts: Pick<FlowOptions, 'variables' | 'rtol' | 'method'>): boolean {
  const choice = opts.variables ?? 'auto';
  if (choice !== 'auto') {
    if (choice === 'lazy' && model.nonSmooth)
      throw new FlowError('lazy variables need a smooth model: the Taylor remainder misses the kinks of relu, abs or sign');
    return choice === 'lazy';
  }
  if (model.nonSmooth) return false;
  // ū(T) = α·(w̄(T) − w0), from the flow's own linearized products (the same B = J0ᵀV, built
  // once: a second linearizedProducts at α = 1 was ~50 ms of W2 on each of its two threads)
  const ubar = unscaledAt(T).slice(0, ev.p);
  const estimate = norm(ev.directional(model.w0, [ubar, ubar])) / (2 * alpha);
  if (!(estimate > 0)) return false;
  const stiff = lambdaMax * T > STIFF_AUTO;
  const method = opts.method && opts.method !== 'auto' ? opts.method : stiff ? 'exponential' : 'dop853';
  const rtol = opts.rtol ?? FLOW_TOLERANCE[method].rtol;
  if (!(floor > 0.1 * rtol * estimate)) return false;
  return quadratureError(ev, model.w0, ubar, alpha) * estimate < floor;
}

/** The integration of a δ-system: the solve, the method it ended with, and the work it took. */
interface FlowRun {
  result: SolveResult;
  method: MethodName;
  /** Refreshes of the Gauss–Newton part during the reported solve. */
  jacobians: number;
  /** sup over accepted steps of ‖w(t) − w0‖. */
  maxWeightChange: number;
  /** Solve again with `method` at a relative tolerance, without tracking (the accuracy check). */
  again: (method: MethodName, rtol: number) => SolveResult;
  rtolOf: (m: MethodName) => number;
}

/**
 * The method policy and the solve: every method through the one solver (`solve`), 'auto' picking
 * by the stiffness λmax(K0)·T and switching to the exponential method when the explicit one
 * detects stiffness.
 */
function integrateFlow(sys: DeltaSystem, opts: FlowOptions, warnings: string[]): FlowRun {
  const { T, square, rhs, jvp, gaussNewton, start, spectrum, k } = sys;
  const times = [...new Set([...(opts.times ?? []).filter((t) => t > 0 && t < T), T])].sort((a, b) => a - b);
  const rtolOf = (m: MethodName) => opts.rtol ?? FLOW_TOLERANCE[m].rtol;
  const atol = opts.atol ?? 1e-14;
  let maxWeightChange = 0;
  const onStep = (t: number, y: Float64Array) => {
    maxWeightChange = Math.max(maxWeightChange, sys.weightChange(t, y));
  };
  // Every method through the one solver: each takes what it uses of the flow's structure (the
  // Hessian product for RODAS4, the Gauss–Newton part for the exponential methods).
  const started = performance.now();
  const maxSteps = opts.maxSteps ?? 1e6;
  let watched: StepWatchState | null = null;
  const run = (method: MethodName, tol: number, track: boolean) => {
    const remaining = opts.maxTime === undefined ? undefined : Math.max(1e-3, opts.maxTime - (performance.now() - started) / 1000);
    // a given time limit is the time the caller is willing to wait: the watch's budget too
    const budget = opts.maxTime === undefined ? {} : { budgetSeconds: opts.maxTime };
    // watch: false still counts the collapses (for the message of a limit reached), never stops
    const watch = stepWatch({ T, nonSmooth: sys.nonSmooth, advice: NON_SMOOTH_ADVICE, ...budget, ...(opts.watch === false ? { budgetSeconds: Infinity } : opts.watch) });
    watched = watch.state;
    const progress = track ? opts.onProgress : undefined;
    const monitor = (s: StepAttempt) => {
      const stop = watch.monitor(s);
      progress?.(s.t, T, watch.state);
      return stop;
    };
    return solve(method, rhs, 0, start(), T, {
      rtol: tol, atol: atol * (tol / rtolOf(method)), times, jvp, maxOrder: ADAMS_ORDER, ...(track ? { onStep } : {}),
      lowRank: { linearPart: gaussNewton.linearPart(method), ops: gaussNewton.ops },
      maxSteps, ...(remaining === undefined ? {} : { maxTime: remaining }), monitor,
    });
  };
  /** The FlowError of a solve that did not reach T: where it stood, why, what to try. */
  const failure = (r: SolveResult, method: MethodName): FlowError => {
    const st = watched as StepWatchState | null;
    const kinks = sys.nonSmooth && st !== null && st.collapses > 0
      ? ` The model is not smooth (relu, abs or sign) and the step size collapsed ${st.collapses} times (down to h = ${st.hMin.toPrecision(3)}): the trajectory crosses its kinks. ${NON_SMOOTH_ADVICE}`
      : '';
    const where = `t = ${r.tFinal.toPrecision(4)} of T = ${T} (${method}: ${r.stats.steps} steps, ${r.stats.rejected} rejected)`;
    switch (r.status) {
      case 'maxSteps':
        return new FlowError(`the flow stopped at ${where}: it used its ${maxSteps} steps (--max-steps).${kinks || ' Raise --max-steps, loosen --rtol, or try --method exponential if the flow is stiff.'}`);
      case 'maxTime':
        return new FlowError(`the flow stopped at ${where}: it used its ${opts.maxTime} s (--max-time).${kinks || ' Raise --max-time, loosen --rtol, or integrate to a shorter T.'}`);
      case 'stopped':
        return new FlowError(`the flow stopped at t = ${r.tFinal.toPrecision(4)} of T = ${T} (${method}): ${r.message}`);
      default: {
        // far below α = 1 the weights move at speed ~1/α and the flow is stiff on a time scale ~α
        const fast = sys.alpha < 1e-3 ? ` At α = ${sys.alpha} the flow is far from lazy: the weights move at speeds of order 1/α; try --method rosenbrock or exponential with --max-time, or a larger α.` : '';
        return new FlowError((r.message ?? `the solver stopped: ${r.status}`) + fast);
      }
    }
  };

  // 'auto': the stiffness over the horizon is λmax(K0)·T (the δ-flow's Jacobian starts as −J0ᵀJ0).
  // DOP853 needs at least λmax·T/6 steps of 12 evaluations when that is large, the exponential
  // method only as many as accuracy asks; below ~200 the 8th-order method is cheaper.
  // The stiff methods use the square loss's structure (the Gauss–Newton part; the Hessian of δ
  // alone): other losses integrate with the explicit methods.
  const auto = (opts.method ?? 'auto') === 'auto';
  if (!square && opts.method !== undefined && opts.method !== 'auto' && METHODS.find((m) => m.name === opts.method)?.stiff)
    throw new FlowError(`--method ${opts.method} needs the square loss; with another loss use dop853 or dopri5`);
  const stiffness = spectrum.values[k - 1]! * T;
  let method: MethodName = auto ? (square && stiffness > STIFF_AUTO ? 'exponential' : 'dop853') : (opts.method as MethodName);
  const tolFor = (m: MethodName) => rtolOf(m) * (opts.check ? FLOW_TOLERANCE[m].check : 1);
  let refreshesBefore = gaussNewton.refreshes;
  let result = run(method, tolFor(method), true);
  if (result.stiffness.detected && auto && square) {
    warnings.push(`the flow is stiff (h·|λ| ≈ ${result.stiffness.estimate?.toPrecision(3)} at t = ${result.stiffness.atTime?.toPrecision(3)}); switched to the exponential method`);
    method = 'exponential';
    maxWeightChange = 0;
    refreshesBefore = gaussNewton.refreshes;
    result = run(method, tolFor(method), true);
  } else if (result.stiffness.detected) {
    warnings.push(`the flow looks stiff for the explicit method ${method} (h·|λ| ≈ ${result.stiffness.estimate?.toPrecision(3)}): --method exponential may be much faster`);
  }
  const jacobians = gaussNewton.refreshes - refreshesBefore;
  if (result.status !== 'ok') throw failure(result, method);
  return { result, method, jacobians, maxWeightChange, again: (m, tol) => run(m, tol, false), rtolOf };
}

/** The report of a finished flow: E(T) and its accuracy, the trajectory, the test outputs, the bounds. */
function flowReport(model: Model, ev: Evaluator, sys: DeltaSystem, runInfo: FlowRun, opts: FlowOptions, warnings: string[]): FlowResult {
  const { alpha, T, R0, p, w0, spectrum, k, at, lossAt, linAt } = sys;
  const { result, method, jacobians, maxWeightChange, rtolOf } = runInfo;
  const trajectory = result.t.map((t, i) => {
    const r = at(t, result.y[i]!);
    return { t, error: r.error, weightChange: r.weightChange, linWeightChange: r.linWeightChange };
  });
  const final = at(T, result.y[result.y.length - 1]!);
  let errorAccuracy: number | null = null;
  if (!opts.check && (opts.accuracy ?? true)) {
    const loose = runInfo.again(method, rtolOf(method) * FLOW_TOLERANCE[method].check);
    if (loose.status === 'ok') errorAccuracy = Math.max(Math.abs(at(T, loose.y[loose.y.length - 1]!).error - final.error), final.floor);
  }
  if (!Number.isFinite(final.error))
    throw new FlowError(`the flow produced a non-finite output at T = ${T}: try a smaller T, a larger α, or a tighter --rtol`);

  let test: FlowResult['test'] = null;
  if (model.test) {
    const shiftT = Float64Array.from(linAt(T, result.y[result.y.length - 1]!).subarray(0, p));
    const out = ev.testOutput(final.wT.map((x, i) => x + w0[i]!)).map((x) => alpha * x);
    const linOut = linearizedTestPredictor(ev)(shiftT).map((x) => alpha * x);
    test = { out, linOut, error: norm(out.map((x, i) => x - linOut[i]!)) };
  }

  const lipH = opts.lipH ?? null, lipDh = opts.lipDh ?? null, radius = opts.radius ?? null;
  const bounds = boundsReport({ alpha, T, R0, lipDh, lipH, radius, squareLoss: sys.square, nonSmooth: model.nonSmooth });
  for (const b of [bounds.theorem12, bounds.prop11]) if (b.valid === false && b.note) warnings.push(b.note);
  return {
    alpha,
    T,
    R0,
    out: final.out,
    linOut: final.linOut,
    test,
    error: final.error,
    errorAccuracy,
    errorFloor: final.floor,
    variables: sys.variables,
    weightChange: final.weightChange,
    linWeightChange: final.linWeightChange,
    maxWeightChange,
    loss: lossAt(final.out),
    linLoss: lossAt(final.linOut),
    lipH,
    lipDh,
    radius,
    stayedInBall: radius === null ? null : withinBall(maxWeightChange, radius),
    kappa: bounds.kappa,
    bound: bounds.theorem12.value,
    sharpBound: bounds.theorem12Sharp.value,
    chizatBound: bounds.prop11.value,
    weightBound: bounds.prop31.value,
    boundNotes: { theorem12: bounds.theorem12.note, prop11: bounds.prop11.note },
    horizons: { theorem12: bounds.theorem12.horizon, prop11: bounds.prop11.horizon },
    theory: bounds,
    trajectory,
    method,
    stats: { ...result.stats, jacobians },
    stiffness: result.stiffness,
    kernel: { name: kernelName(model), lambdaMin: spectrum.values[0]!, lambdaMax: spectrum.values[k - 1]!, clipped: spectrum.clipped, indefinite: spectrum.indefinite },
    warnings,
  };
}

/**
 * The achieved accuracy of `primary`'s E(T) from a separate check solve (`check: true`, same
 * options): |E − E_check|, or null when the two took different methods (an 'auto' flow that
 * switched on detecting stiffness), which are not comparable this way.
 * @example accuracyFrom(flow(m, { alpha, T, accuracy: false }), flow(m, { alpha, T, check: true }))
 */
export function accuracyFrom(primary: Pick<FlowResult, 'error' | 'method' | 'errorFloor'>, check: Pick<FlowResult, 'error' | 'method'>): number | null {
  return primary.method === check.method ? Math.max(Math.abs(check.error - primary.error), primary.errorFloor) : null;
}
