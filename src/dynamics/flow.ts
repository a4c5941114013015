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
import type { Model } from '../ir/model.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { boundsReport, type BoundsReport } from './bounds.ts';
import { kernelSpectrum, LinearizedFlow } from './linearized.ts';
import { solve, type SolveResult } from './solvers/index.ts';
import { solveEtd, type LowRankOps, type LowRankStiff } from './solvers/etd.ts';
import { solveEtdAdams } from './solvers/etd-adams.ts';
import { linearizedTestPredictor } from './predict.ts';
import { kernelName } from '../ir/rates.ts';

/**
 * The integrator of `flow`: 'auto' picks DOP853 for mild flows and the exponential method when
 * λmax(K0)·T is large (stiff); the others force one.
 */
export type FlowMethod = 'auto' | 'exponential' | 'etdrk4' | 'dopri5' | 'dop853' | 'rosenbrock';

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
  onProgress?: (t: number, T: number) => void;
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
  /** Estimated absolute accuracy of `error` (null when not estimated). */
  errorAccuracy: number | null;
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
  bounds: BoundsReport;
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
 * The exponential methods leave a mode of the Gauss–Newton part out of Q (to their explicit
 * part) while h·λ ≤ STABLE_EXPLICIT, and choose Q for steps up to HEADROOM times the current
 * one. The explicit part of exponential Adams is stable up to h·λ ≈ 0.5: on y' = −λy + f(t)
 * with no Q, steps limited by stability settle at h·λ ≈ 0.58 whatever λ and rtol (measured,
 * test/dynamics/solvers/etd.test.ts); ETDRK4's explicit part is RK4's, stable to 2.78.
 */
const STABLE_EXPLICIT = 0.1;
const HEADROOM = 2;

/**
 * The linearized flow's slow modes: λ·T ≤ SLOW_MODES (never stiff: SLOW_MODES ≤
 * STABLE_EXPLICIT), summed through TAYLOR_TERMS moments of the power series of e^{−λt}, enough
 * for x = λt ≤ 0.1: x^11/11! = 2.5e-19, below 1e-17 of the series' first term.
 */
const SLOW_MODES = 0.1;
const TAYLOR_TERMS = 11;

/** λmax(K0)·T above which 'auto' integrates with the exponential method. */
const STIFF_AUTO = 200;

/**
 * A numerical fault in a flow: what happened, when, and what to try.
 * @example try { flow(model, { alpha: 1, T: 1e9 }) } catch (e) { if (e instanceof FlowError) console.error(e.message) } // what happened, when, what to try
 */
export class FlowError extends Error {}

const norm = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
};

/**
 * Integrate the flow of α·h and its linearization to time T; report E(T) and the bounds (which
 * hold for the square loss; for any other loss they are reported as not applying).
 *
 * @example
 *   const r = flow(loadModel('examples/converse.ntk'), { alpha: 10, T: 100, lipDh: 2 });
 *   r.error <= r.bounds.theorem12.value!   // Theorem 1.2
 */
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

export function flow(model: Model, opts: FlowOptions, ev: Evaluator = new Evaluator(model)): FlowResult {
  const { alpha, T } = opts;
  const warnings: string[] = [];
  checkFlowStart(model, alpha, T, ev);
  // The square loss has the linearized flow in closed form; any other loss integrates it in
  // function space next to the flow (see `linAt`).
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
  // B = J0ᵀ V (p × k): its columns are orthogonal with ‖b_i‖² = λ_i, so J0ᵀ f(K0) r0 = B (f(λ) ⊙ q)
  // with q = Vᵀ r0, and J0ᵀJ0 = B Bᵀ. Every linearized quantity is then one product with B.
  // (Square loss only: other losses read the linearized flow from the state.)
  const lambda = spectrum.values;
  const q = lin.eigenCoordinates;
  const B = new Float64Array(square ? p * k : 0);
  if (square) ev.backend.gemm(true, false, p, k, k, 1, J0, 0, p, spectrum.vectors, 0, k, 0, B, 0, k);
  // The slow modes, λ ≤ SLOW_MODES/T (the first of the ascending λ), enter the linearized flow
  // only through a few moments: with x = λt ≤ SLOW_MODES their closed forms are power series,
  //   e^{−λt} = Σ_m (−λ)^m t^m/m!,   (1 − e^{−λt})/λ = Σ_m (−λ)^m t^{m+1}/(m+1)!,
  // whose terms past m = M fall below 1e-17 of the first, so the sum over slow modes of
  // b_j f(λ_j t) q_j is Σ_{m ≤ M} U_m c_m(t) with U_m = Σ_slow b_j q_j (−λ_j)^m: M + 1 columns
  // instead of one per slow mode (exact to rounding). W2 has 53 slow modes of 64 (M + 1 = 11):
  // the per-step product reads 22 columns instead of 64. Lin = [U_0 … U_M | b_slow … b_{k−1}]
  // (p × cols) and B is not kept: a slow mode is never stiff at any step (SLOW_MODES ≤
  // STABLE_EXPLICIT, the same division as `select`'s floor), so Q never asks for its column.
  const slowAll = lambda.findIndex((l) => l > SLOW_MODES / T);
  const slowCount = slowAll < 0 ? k : slowAll;
  const terms = TAYLOR_TERMS;
  const slow = slowCount > terms ? slowCount : 0; // compressed only when that saves columns
  const moments = slow > 0 ? terms : 0;
  const cols = moments + k - slow;
  const col = (j: number) => moments + j - slow; // Lin's column of a mode j ≥ slow
  let Lin = B;
  if (square && slow > 0) {
    Lin = new Float64Array(p * cols);
    const W = new Float64Array(slow * moments); // W[j][m] = q_j (−λ_j)^m
    for (let j = 0; j < slow; j++) for (let m = 0, x = q[j]!; m < moments; m++, x *= -lambda[j]!) W[j * moments + m] = x;
    ev.backend.gemm(false, false, p, moments, slow, 1, B, 0, k, W, 0, moments, 0, Lin, 0, cols);
    for (let i = 0; i < p; i++) for (let j = slow; j < k; j++) Lin[i * cols + col(j)] = B[i * k + j]!;
  }
  // The linearized flow at time t as one array of 2p values, two matrix-vector products:
  //   [0, p):  w̄(t) − w0 = −(1/α) J0ᵀ c(t), c(t) = ∫₀ᵗ ∇R(v̄)      (the shift)
  //   [p, 2p): dw̄/dt     = −(1/α) J0ᵀ ∇R(v̄(t))                    (the velocity)
  // with v̄ = α·h̄(w̄), dv̄/dt = −K0 ∇R(v̄). Square loss: ∇R(v̄) = −r̄ = −exp(−K0 t) r0, so both
  // are products with Lin of the closed form in the eigenbasis (the last t cached: the stages of
  // a step share their times). Other losses: v̄ and c are integrated with the flow, as the state's
  // tail y = (δ, v̄, c), and read from it. Both products are one gemm with two rows, [coefS;
  // coefV]·Linᵀ (or ·J0), written as the 2 × p result: the native backend reads Lin once for both
  // (its few-row product; W2: 0.21–0.23 ms against 0.24–0.33 ms for two gemv calls with all of B).
  const coefLen = square ? cols : k;
  const coef = new Float64Array(2 * coefLen), coefS = coef.subarray(0, coefLen), coefV = coef.subarray(coefLen);
  const lin2 = new Float64Array(2 * p), gradR = new Float64Array(k);
  const products = (M: Float64Array, transposed: boolean, out: Float64Array) =>
    ev.backend.gemm(false, !transposed, 2, p, coefLen, 1, coef, 0, coefLen, M, 0, transposed ? p : coefLen, 0, out, 0, p);
  // The square loss's values by time, the last four kept: the stages of a step ask for the same
  // times more than once (ETDRK4 with step doubling: t + h/4, h/2, 3h/4 and h; Adams: t + h twice).
  const linCache = new Map<number, Float64Array>();
  const linAt = (t: number, y: Float64Array) => {
    if (square) {
      const hit = linCache.get(t);
      if (hit) return hit;
      // the moments' coefficients t^m/m!/α and t^{m+1}/(m+1)!/α, then the other modes' closed forms
      for (let m = 0, c = 1 / alpha; m < moments; m++) {
        coefV[m] = c;
        c *= t / (m + 1);
        coefS[m] = c;
      }
      for (let j = slow; j < k; j++) {
        const l = lambda[j]!;
        coefS[col(j)] = ((l === 0 ? t : -Math.expm1(-l * t) / l) * q[j]!) / alpha;
        coefV[col(j)] = (Math.exp(-l * t) * q[j]!) / alpha;
      }
      let out: Float64Array;
      if (linCache.size >= 4) {
        const oldest = linCache.keys().next().value!;
        out = linCache.get(oldest)!;
        linCache.delete(oldest);
      } else out = new Float64Array(2 * p);
      products(Lin, false, out);
      linCache.set(t, out);
      return out;
    }
    gradR.set(ev.outputLoss(y.subarray(p, p + k)).grad);
    for (let j = 0; j < k; j++) {
      coefS[j] = -y[p + k + j]! / alpha;
      coefV[j] = -gradR[j]! / alpha;
    }
    products(J0, true, lin2);
    return lin2;
  };
  /** w̄(t) − w0. */
  const linShift = (t: number, y: Float64Array, out: Float64Array) => {
    out.set(linAt(t, y).subarray(0, p));
    return out;
  };

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
  // The exponential integrator's split: dδ/dt = A δ + N(t, δ) with A = −J_nᵀJ_n, the stiff
  // Gauss–Newton part of −(1/α²)∇²L at a recent point w_n (w0 first), of rank ≤ k:
  // A = −Q diag(λ) Qᵀ with Q = J_nᵀ V Λ^{-1/2} from the eigenpairs (λ, V) of K_n = J_n J_nᵀ.
  // Only the modes that are stiff at the step sizes in use go into Q: the solver integrates the
  // others explicitly, stably while h·λ stays below ~0.5 (`STABLE_EXPLICIT`). A mode is kept when
  // λ·min(T, HEADROOM·h) > STABLE_EXPLICIT for the step h about to be taken, and Q is re-selected
  // from the same J_n and spectrum (no new Jacobian) as soon as h·λ of a left-out mode passes
  // STABLE_EXPLICIT. Every product with Q costs p·r reads, four of them a step: W2's Q has a
  // median of 9 columns and a mean of 21 (38 when every mode with λ·T > 1/4 was kept).
  /**
   * A Gauss–Newton part: J_n, its spectrum, and the columns b_j of J_nᵀV when they are at hand
   * (w0: b_j is column col(j) of Lin, with `ld` columns, for every mode that can be stiff).
   */
  interface GaussNewton { J: Float64Array; sp: ReturnType<typeof kernelSpectrum>; JtV?: { B: Float64Array; ld: number; col: (j: number) => number } }
  const select = (gn: GaussNewton, h: number, into?: Float64Array): { stiff: LowRankStiff; lambdaOut: number } => {
    const { J, sp, JtV } = gn;
    const lmax = sp.values[k - 1]!;
    const floor = Math.max(1e-12 * lmax, STABLE_EXPLICIT / Math.min(T, HEADROOM * h));
    const keep: number[] = [];
    let lambdaOut = 0;
    for (let j = 0; j < k; j++) {
      if (sp.values[j]! > floor) keep.push(j);
      else lambdaOut = Math.max(lambdaOut, sp.values[j]!);
    }
    const r = keep.length;
    const Q = into ? into.subarray(0, p * r) : new Float64Array(p * r);
    if (JtV && keep.every((j) => JtV.col(j) >= 0)) {
      // the kept columns of B, scaled: one pass over B's rows (a pass per column read it r times)
      const root = keep.map((j) => Math.sqrt(sp.values[j]!)), at = keep.map(JtV.col), ld = JtV.ld;
      for (let i = 0; i < p; i++) for (let jj = 0; jj < r; jj++) Q[i * r + jj] = JtV.B[i * ld + at[jj]!]! / root[jj]!;
    } else {
      // Q = Jᵀ V_keep Λ_keep^{-1/2}: only the kept eigenvectors (p·k·r work, not p·k²)
      const Vs = new Float64Array(k * r);
      keep.forEach((j, jj) => {
        const s = 1 / Math.sqrt(sp.values[j]!);
        for (let i = 0; i < k; i++) Vs[i * r + jj] = sp.vectors[i * k + j]! * s;
      });
      ev.backend.gemm(true, false, p, r, k, 1, J, 0, p, Vs, 0, r, 0, Q, 0, r);
    }
    return { stiff: { Q, rank: r, lambda: Float64Array.from(keep, (j) => sp.values[j]!) }, lambdaOut };
  };
  const gn0: GaussNewton = { J: J0, sp: spectrum, JtV: { B: Lin, ld: cols, col } };
  // Refreshing A costs a Jacobian, the kernel J·Jᵀ (2p·k²) and Q (2p·k·r) — and for the Adams
  // method the re-projection of its history (2 products with Qᵀ per stored point). A step of
  // ETDRK4 with step doubling costs about four gradients' worth and a dozen products with Q, one
  // of exponential Adams two gradients and four products. Refreshing every `refreshEvery(m)`
  // steps balances the two (a deterministic count from flop estimates, so that a run is
  // reproducible; measured on W2 the Adams run's time is flat from 10 to 30). The estimate takes
  // r as the modes of K0 that can be stiff within the horizon (λ·T > 1/4).
  const refreshEvery = (m: 'exponential' | 'etdrk4') => {
    const r = spectrum.values.filter((l) => l * T > 0.25).length, grad = ev.gradFlops();
    const refresh = (ev.lastJacobian?.flops ?? 0) + 2 * p * k * (k + r) + (m === 'exponential' ? 4 * ADAMS_ORDER * p * r : 0);
    const step = m === 'exponential' ? 2 * grad + 8 * p * r : 4 * grad + 24 * p * k;
    return Math.min(64, Math.max(2, Math.round(refresh / step)));
  };
  let refreshes = 0;
  // A refresh writes its Jacobian and its Q into buffers kept for the whole flow (Q alternates
  // between two, the other holding the Q in use): fresh arrays of 8pk bytes each time cost a
  // page fault per 4 KB (W2: 2300 faults a refresh, ~3–5 µs each on this machine's VM).
  let jBuf: Float64Array | null = null;
  const qBufs: Float64Array[] = [];
  const otherQ = (current: LowRankStiff) => {
    if (qBufs.length < 2) qBufs.push(new Float64Array(p * k));
    return qBufs.find((b) => b.buffer !== current.Q.buffer)!;
  };
  /**
   * The stiff part for one solve: asked at t0 and after each accepted step with the next step
   * size h. A new Jacobian every `every` accepted steps; in between, a re-selection of the modes
   * of the current one when h has outgrown it.
   */
  const stiffParts = (every: number) => {
    let gn = gn0, sinceJacobian = 0;
    let current: { stiff: LowRankStiff; lambdaOut: number } | null = null;
    return (t: number, delta: Float64Array, _since: number, h: number): LowRankStiff => {
      if (current === null) return (current = select(gn0, h)).stiff;
      if (++sinceJacobian >= every) {
        weightsAt(t, delta);
        const J = ev.jacobian(w, { out: (jBuf ??= new Float64Array(k * p)) });
        refreshes++;
        sinceJacobian = 0;
        gn = { J, sp: kernelSpectrum(ntkFromJacobian(ev, J), k, ev.backend) };
      } else if (h * current.lambdaOut <= STABLE_EXPLICIT) return current.stiff;
      return (current = select(gn, h, otherQ(current.stiff))).stiff;
    };
  };
  // Products with Q (n × r, memory-bound: Q is read from memory each time). projectMany stacks
  // the vectors as the rows of one matrix, so a history of 2·7 vectors reads Q once, not 14 times.
  let stacked = new Float64Array(0), stackedOut = new Float64Array(0);
  const lowRankOps: LowRankOps = {
    combine,
    project: (Q, n, r, v, out) => ev.backend.gemm(true, false, r, 1, n, 1, Q, 0, r, v, 0, 1, 0, out, 0, 1),
    expand: (Q, n, r, c, out) => ev.backend.gemm(false, false, n, 1, r, 1, Q, 0, r, c, 0, 1, 0, out, 0, 1),
    projectMany: (Q, n, r, vs, outs) => {
      const m = vs.length;
      if (stacked.length < m * n) stacked = new Float64Array(m * n);
      if (stackedOut.length < m * r) stackedOut = new Float64Array(m * r);
      vs.forEach((v, j) => stacked.set(v.subarray(0, n), j * n));
      ev.backend.gemm(false, false, m, r, n, 1, stacked, 0, n, Q, 0, r, 0, stackedOut, 0, r);
      outs.forEach((o, j) => o.set(stackedOut.subarray(j * r, (j + 1) * r)));
    },
  };

  const times = [...new Set([...(opts.times ?? []).filter((t) => t > 0 && t < T), T])].sort((a, b) => a - b);
  // Default tolerances on δ: the explicit methods are cheap at tight ones (order 8), the
  // exponential ones are not; δ's relative accuracy carries over to E either way, and the
  // achieved accuracy of E is measured below, by a second solve `checkFactor` times looser.
  // Exponential Adams keeps its corrector while its estimate is the predictor's error, so its
  // actual error is about 100× below the tolerance (measured on five stiff mean-field flows: E
  // within 1.4e-8 relative at rtol 1e-5): a 10× looser check still bounds it, and costs less.
  const rtolOf = (m: Exclude<FlowMethod, 'auto'>) => opts.rtol ?? (m === 'exponential' ? 1e-5 : m === 'etdrk4' ? 1e-6 : 1e-10);
  const checkFactor = (m: Exclude<FlowMethod, 'auto'>) => (m === 'exponential' ? 10 : 100);
  const atol = opts.atol ?? 1e-14;
  let maxWeightChange = 0;
  const onStep = (t: number, delta: Float64Array) => {
    // ‖w(t) − w0‖ = ‖(w̄(t) − w0) + δ‖ in one pass
    const sv = linAt(t, delta);
    let s = 0;
    for (let i = 0; i < p; i++) {
      const d = sv[i]! + delta[i]!;
      s += d * d;
    }
    maxWeightChange = Math.max(maxWeightChange, Math.sqrt(s));
    opts.onProgress?.(t, T);
  };
  /** The initial state: δ = 0, and for a non-square loss v̄ = α·h(w0), c = 0. */
  const start = () => {
    const y0 = new Float64Array(square ? p : p + 2 * k);
    if (!square) for (let i = 0; i < k; i++) y0[p + i] = alpha * h0[i]!;
    return y0;
  };
  const run = (method: Exclude<FlowMethod, 'auto'>, tol: number, track: boolean) =>
    method === 'exponential' || method === 'etdrk4'
      ? (method === 'exponential' ? solveEtdAdams : solveEtd)(rhs, 0, start(), T, (() => {
          return {
            rtol: tol, atol: atol * (tol / rtolOf(method)), times, ops: lowRankOps, maxOrder: ADAMS_ORDER, ...(track ? { onStep } : {}),
            linearPart: stiffParts(refreshEvery(method)),
          };
        })())
      : solve(method, rhs, 0, start(), T, { rtol: tol, atol: atol * (tol / rtolOf(method)), times, jvp, ...(track ? { onStep } : {}) });

  // 'auto': the stiffness over the horizon is λmax(K0)·T (the δ-flow's Jacobian starts as −J0ᵀJ0).
  // DOP853 needs at least λmax·T/6 steps of 12 evaluations when that is large, the exponential
  // method only as many as accuracy asks; below ~200 the 8th-order method is cheaper.
  // The exponential and Rosenbrock methods use the square loss's structure (the Gauss–Newton
  // part; the Hessian of δ alone): other losses integrate with the explicit methods.
  const auto = (opts.method ?? 'auto') === 'auto';
  if (!square && (opts.method === 'exponential' || opts.method === 'etdrk4' || opts.method === 'rosenbrock'))
    throw new FlowError(`--method ${opts.method} needs the square loss; with another loss use dop853 or dopri5`);
  const stiffness = spectrum.values[k - 1]! * T;
  let method: Exclude<FlowMethod, 'auto'> = auto ? (square && stiffness > STIFF_AUTO ? 'exponential' : 'dop853') : (opts.method as Exclude<FlowMethod, 'auto'>);
  const tolFor = (m: Exclude<FlowMethod, 'auto'>) => rtolOf(m) * (opts.check ? checkFactor(m) : 1);
  let result = run(method, tolFor(method), true);
  if (result.stiffness.detected && auto && square) {
    warnings.push(`the flow is stiff (h·|λ| ≈ ${result.stiffness.estimate?.toPrecision(3)} at t = ${result.stiffness.atTime?.toPrecision(3)}); switched to the exponential method`);
    method = 'exponential';
    maxWeightChange = 0;
    refreshes = 0;
    result = run(method, tolFor(method), true);
  } else if (result.stiffness.detected) {
    warnings.push(`the flow looks stiff for the explicit method ${method} (h·|λ| ≈ ${result.stiffness.estimate?.toPrecision(3)}): --method exponential may be much faster`);
  }
  const jacobians = refreshes;
  if (result.status !== 'ok') throw new FlowError(result.message ?? `the solver stopped: ${result.status}`);

  /** Everything at time t from the state y(t) = (δ, [v̄, c]). */
  const at = (t: number, y: Float64Array) => {
    linShift(t, y, shift);
    const wT = new Float64Array(p);
    for (let i = 0; i < p; i++) wT[i] = w0[i]! + shift[i]! + y[i]!;
    const hT = ev.output(wT);
    const out = hT.map((x) => alpha * x);
    const linOut = square ? lin.residual(t).map((x, i) => ystar[i]! - x) : y.slice(p, p + k);
    const diff = out.map((x, i) => x - linOut[i]!);
    for (let i = 0; i < p; i++) wT[i] -= w0[i]!;
    return { out, linOut, error: norm(diff), weightChange: norm(wT), linWeightChange: norm(shift), wT };
  };
  const lossAt = (v: Float64Array) => (square ? 0.5 * norm(v.map((x, i) => x - ystar[i]!)) ** 2 : ev.outputLoss(v).value);
  const trajectory = result.t.map((t, i) => {
    const r = at(t, result.y[i]!);
    return { t, error: r.error, weightChange: r.weightChange, linWeightChange: r.linWeightChange };
  });
  const final = at(T, result.y[result.y.length - 1]!);
  let errorAccuracy: number | null = null;
  if (!opts.check && (opts.accuracy ?? true)) {
    const loose = run(method, rtolOf(method) * checkFactor(method), false);
    if (loose.status === 'ok') errorAccuracy = Math.abs(at(T, loose.y[loose.y.length - 1]!).error - final.error);
  }
  if (!Number.isFinite(final.error))
    throw new FlowError(`the flow produced a non-finite output at T = ${T}: try a smaller T, a larger α, or a tighter --rtol`);

  let test: FlowResult['test'] = null;
  if (model.test) {
    const shiftT = linShift(T, result.y[result.y.length - 1]!, new Float64Array(p));
    const out = ev.testOutput(final.wT.map((x, i) => x + w0[i]!)).map((x) => alpha * x);
    const linOut = linearizedTestPredictor(ev)(shiftT).map((x) => alpha * x);
    test = { out, linOut, error: norm(out.map((x, i) => x - linOut[i]!)) };
  }

  const lipH = opts.lipH ?? null, lipDh = opts.lipDh ?? null, radius = opts.radius ?? null;
  const bounds = boundsReport({ alpha, T, R0, lipDh, lipH, radius, squareLoss: square, nonSmooth: model.nonSmooth });
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
    weightChange: final.weightChange,
    linWeightChange: final.linWeightChange,
    maxWeightChange,
    loss: lossAt(final.out),
    linLoss: lossAt(final.linOut),
    lipH,
    lipDh,
    radius,
    stayedInBall: radius === null ? null : maxWeightChange <= radius,
    bounds,
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
export function accuracyFrom(primary: Pick<FlowResult, 'error' | 'method'>, check: Pick<FlowResult, 'error' | 'method'>): number | null {
  return primary.method === check.method ? Math.abs(check.error - primary.error) : null;
}
