/**
 * The linearized flow as the deviation solve reads it (`flow.ts`): at any time t, the shift
 * w̄(t) − w0 and the velocity dw̄/dt, as one array of 2p values, by two matrix-vector products.
 *
 * Square loss: w̄(t) − w0 = −(1/α) J0ᵀ c(t) with c(t) = ∫₀ᵗ ∇R(v̄) and ∇R(v̄) = −r̄ = −e^{−K0t} r0,
 * so with the eigenpairs (λ, V) of K0 = J0J0ᵀ, B = J0ᵀV (p × k; ‖b_j‖² = λ_j) and q = Vᵀr0:
 *
 *   w̄(t) − w0 = (1/α) Σ_j b_j q_j (1 − e^{−λ_j t})/λ_j,     dw̄/dt = (1/α) Σ_j b_j q_j e^{−λ_j t}.
 *
 * Other losses: v̄ = α·h̄ and c are state variables of the solve (dv̄/dt = −K0∇R(v̄), dc/dt =
 * ∇R(v̄)), and the same two products are taken with J0 of the values read from the state.
 */
import type { Evaluator } from '../evaluator/evaluator.ts';
import type { KernelSpectrum } from './linearized.ts';

/**
 * The linearized flow's slow modes: λ·T ≤ SLOW_MODES (never stiff: SLOW_MODES ≤
 * STABLE_EXPLICIT of `gauss-newton.ts`), summed through TAYLOR_TERMS moments of the power series
 * of e^{−λt}, enough for x = λt ≤ 0.1: x^11/11! = 2.5e-19, below 1e-17 of the series' first term.
 */
export const SLOW_MODES = 0.1;
const TAYLOR_TERMS = 11;

/** The columns of J0ᵀV at hand (w0's Gauss–Newton part reads them): B with `ld` columns, b_j at column col(j) (< 0: not kept). */
export interface JtVColumns { B: Float64Array; ld: number; col: (j: number) => number }

export interface LinearizedProducts {
  /**
   * [w̄(t) − w0, dw̄/dt] (2p values) at time t, y the solve's state (read for a loss other than
   * the square loss). The returned array belongs to a cache of the last four times: read it
   * before the next call with another t.
   */
  linAt(t: number, y: Float64Array): Float64Array;
  /**
   * Square loss: α·[w̄(t) − w0, dw̄/dt] = [ū(t), dū/dt], the linearized flow's weights scaled by α
   * (what `linAt` would give at α = 1, from the same products and bit-identical to them; the lazy
   * variables read it, where α is too large for w̄ − w0 itself). Null for other losses.
   */
  unscaledAt: ((t: number) => Float64Array) | null;
  /** J0ᵀV's columns for the square loss (null otherwise). */
  JtV: JtVColumns | null;
  /** Other losses: ∇R(v̄) at the last `linAt` (its state's v̄). */
  gradR: Float64Array;
}

/**
 * The linearized flow's products for a flow of α·h to horizon T, from J0 (k × p), the spectrum of
 * K0 and, for the square loss, the eigen-coordinates q = Vᵀr0 of the initial residual (null:
 * another loss, read from the state's tail y = (δ, v̄, c)).
 * @example const { linAt } = linearizedProducts(ev, J0, spectrum, q, alpha, T); linAt(t, y).subarray(0, p) // w̄(t) − w0
 */
export function linearizedProducts(ev: Evaluator, J0: Float64Array, spectrum: KernelSpectrum, q: Float64Array | null, alpha: number, T: number): LinearizedProducts {
  const k = ev.k, p = ev.p;
  const square = q !== null;
  // B = J0ᵀ V (p × k): its columns are orthogonal with ‖b_i‖² = λ_i, so J0ᵀ f(K0) r0 = B (f(λ) ⊙ q)
  // with q = Vᵀ r0, and J0ᵀJ0 = B Bᵀ. Every linearized quantity is then one product with B.
  // (Square loss only: other losses read the linearized flow from the state.)
  const lambda = spectrum.values;
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
  // STABLE_EXPLICIT, the same division as the Gauss–Newton part's floor), so Q never asks for its column.
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
  // Square loss: both are products with Lin of the closed form in the eigenbasis (the last t
  // cached: the stages of a step share their times). Other losses: v̄ and c are read from the
  // state's tail y = (δ, v̄, c). Both products are one gemm with two rows, [coefS; coefV]·Linᵀ (or
  // ·J0), written as the 2 × p result: the native backend reads Lin once for both (its few-row
  // product; W2: 0.21–0.23 ms against 0.24–0.33 ms for two gemv calls with all of B).
  const coefLen = square ? cols : k;
  const coef = new Float64Array(2 * coefLen), coefS = coef.subarray(0, coefLen), coefV = coef.subarray(coefLen);
  const lin2 = new Float64Array(2 * p), gradR = new Float64Array(k);
  const products = (M: Float64Array, transposed: boolean, out: Float64Array) =>
    ev.backend.gemm(false, !transposed, 2, p, coefLen, 1, coef, 0, coefLen, M, 0, transposed ? p : coefLen, 0, out, 0, p);
  // The square loss's values by time at a scale 1/a (a = α: w̄ − w0; a = 1: α(w̄ − w0)), the last
  // four of each kept: the stages of a step ask for the same times more than once (ETDRK4 with
  // step doubling: t + h/4, h/2, 3h/4 and h; Adams: t + h twice).
  const squareAt = (a: number) => {
    const cache = new Map<number, Float64Array>();
    return (t: number) => {
      const hit = cache.get(t);
      if (hit) return hit;
      // the moments' coefficients t^m/m!/a and t^{m+1}/(m+1)!/a, then the other modes' closed forms
      for (let m = 0, c = 1 / a; m < moments; m++) {
        coefV[m] = c;
        c *= t / (m + 1);
        coefS[m] = c;
      }
      for (let j = slow; j < k; j++) {
        const l = lambda[j]!;
        coefS[col(j)] = ((l === 0 ? t : -Math.expm1(-l * t) / l) * q![j]!) / a;
        coefV[col(j)] = (Math.exp(-l * t) * q![j]!) / a;
      }
      let out: Float64Array;
      if (cache.size >= 4) {
        const oldest = cache.keys().next().value!;
        out = cache.get(oldest)!;
        cache.delete(oldest);
      } else out = new Float64Array(2 * p);
      products(Lin, false, out);
      cache.set(t, out);
      return out;
    };
  };
  if (square) {
    const scaled = squareAt(alpha);
    let unscaled: ((t: number) => Float64Array) | undefined;
    return { linAt: scaled, unscaledAt: (t) => (unscaled ??= squareAt(1))(t), JtV: { B: Lin, ld: cols, col }, gradR };
  }
  const linAt = (t: number, y: Float64Array) => {
    gradR.set(ev.outputLoss(y.subarray(p, p + k)).grad);
    for (let j = 0; j < k; j++) {
      coefS[j] = -y[p + k + j]! / alpha;
      coefV[j] = -gradR[j]! / alpha;
    }
    products(J0, true, lin2);
    return lin2;
  };
  return { linAt, unscaledAt: null, JtV: null, gradR };
}
