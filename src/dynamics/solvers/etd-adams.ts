/**
 * An exponential Adams method (predictor–corrector, PECE) for y' = F(t, y) = A·y + N(t, y) with
 * the same low-rank stiff part as `etd.ts`: A = −Q diag(λ) Qᵀ, refreshed by the caller.
 *
 * Variation of constants over a step [t_n, t_n + h], with τ = s·h:
 *
 *   y(t_n + h) = e^{hA} y_n + ∫₀ʰ e^{(h−τ)A} N(t_n + τ) dτ.
 *
 * N is replaced by the polynomial P(s) = Σ_j d_j s^j interpolating it at the nodes s_i (past
 * steps, s ≤ 0; and, for the corrector, the new point s = 1). Since
 * ∫₀ʰ e^{(h−τ)A} (τ/h)^j dτ = h·j!·φ_{j+1}(hA), the step is
 *
 *   y_{n+1} = φ_0(hA) y_n + h Σ_j j!·d_j·φ_{j+1}(hA),   d = V⁻¹·(N_i),  V_ij = s_i^j.
 *
 * The predictor interpolates the k last values of N (order k), the corrector adds N at the
 * predicted point (order k + 1); their difference estimates the predictor's local error, and
 * the corrected value is kept (local extrapolation). F at the corrected point starts the next
 * step: two evaluations of F per step, against eleven for ETDRK4 with step doubling. The error
 * estimate sees every kind of error, including how F depends on t: the predictor's nodes are
 * all in the past, the corrector's include the new time.
 *
 * The order starts at 1 and rises by one per accepted step up to `maxOrder` (the start-up of
 * variable-order Adams codes); the step changes by at most a factor 2 per step, which keeps
 * the interpolation well conditioned. When the caller changes A, the stored values of N are
 * re-split against the new A from the stored y_i and F(y_i): N_i = F_i + Q(λ ⊙ Qᵀy_i) (their
 * projections on the new Q in one pass over it, `projectMany`).
 *
 * φ_k(hA)v for v = x + Qz with v̂ = Qᵀx + z is x/k! + Q[φ_k(−hλ) ⊙ z + (φ_k(−hλ) − 1/k!) ⊙ x̂]
 * (x̂ = v̂ − z), so a step costs two products with Qᵀ (the projections of the new F values)
 * and two with Q (the reconstructions of the predicted and corrected states).
 *
 * The method is a `Stepper` run by the one integration loop (`driver.ts`: `solve('exponential',
 * …)`) with an I controller whose exponent follows the order (k + 1 for a predictor of order k);
 * it has no dense output, so its steps end on the output times.
 */
import type { Rhs } from './types.ts';
import { allFinite, type Counters, type Fault, type Stepper, type Tolerances } from './driver.ts';
import { NO_STIFF_PART, scaledErrorNorm, type LowRankOptions, type LowRankStiff } from './etd.ts';
import { combine as combineJs } from '../../runtime/kernels-js.ts';
import { gaussLegendre } from '../../math/quadrature.ts';

/**
 * Gauss–Legendre nodes and weights on [0, 1] (48 points: exact for degree 95; math/quadrature's
 * rule on [−1, 1], mapped), made on first use rather than when the module loads: every program
 * that imports the library would pay for them (the browser playground's worker did, before its
 * first study), and only the exponential methods need them.
 */
let GL: { x: Float64Array; w: Float64Array } | null = null;

function unitLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const r = gaussLegendre(n);
  return { x: r.nodes.map((t) => (1 + t) / 2), w: r.weights.map((w) => w / 2) };
}

const FACT_INV = Array.from({ length: 20 }, (_, k) => {
  let f = 1;
  for (let i = 2; i <= k; i++) f *= i;
  return 1 / f;
});

/**
 * φ_0(z), …, φ_K(z) for z ≤ 0 into out[0..K], each within a few ulp (4e-15 relative):
 * φ_0 = e^z, φ_{k+1}(z) = (φ_k(z) − 1/k!)/z. The recurrence cancels for small |z| (it divides
 * a difference of nearly equal numbers by z); for z ≤ −16 it does not (with k ≤ 8, φ_k·k! ≤
 * k/|z| ≤ 1/2, so 1/k! dominates the difference and errors do not grow). Above −16 each φ_k is
 * its integral, `phiQuadrature`.
 * @example phiAll(-1, 2, out) // out = [e^{-1}, 1 − e^{-1}, e^{-1}]
 */
export function phiAll(z: number, K: number, out: Float64Array): void {
  if (z > -16) return phiQuadrature(z, K, out);
  out[0] = Math.exp(z);
  for (let k = 0; k < K; k++) out[k + 1] = (out[k]! - FACT_INV[k]!) / z;
}

/**
 * φ_0(z), …, φ_K(z) by φ_k(z) = ∫₀¹ e^{(1−θ)z} θ^{k−1}/(k−1)! dθ (k ≥ 1), Gauss–Legendre with
 * 48 nodes: a sum of positive terms, accurate to a few ulp for −30 ≤ z ≤ 0.
 */
export function phiQuadrature(z: number, K: number, out: Float64Array): void {
  out[0] = Math.exp(z);
  for (let k = 1; k <= K; k++) out[k] = 0;
  const { x, w } = (GL ??= unitLegendre(48));
  for (let q = 0; q < x.length; q++) {
    const th = x[q]!;
    let term = w[q]! * Math.exp((1 - th) * z); // · θ^{k−1}/(k−1)!, built up incrementally
    for (let k = 1; k <= K; k++) {
      out[k] += term;
      term *= th / k;
    }
  }
}

/** Solve the small dense system V·X = I in place (Gaussian elimination, partial pivoting). */
function inverse(V: Float64Array, m: number): Float64Array {
  const A = Float64Array.from(V), X = new Float64Array(m * m);
  for (let i = 0; i < m; i++) X[i * m + i] = 1;
  for (let c = 0; c < m; c++) {
    let piv = c;
    for (let r = c + 1; r < m; r++) if (Math.abs(A[r * m + c]!) > Math.abs(A[piv * m + c]!)) piv = r;
    if (piv !== c)
      for (let j = 0; j < m; j++) {
        [A[c * m + j], A[piv * m + j]] = [A[piv * m + j]!, A[c * m + j]!];
        [X[c * m + j], X[piv * m + j]] = [X[piv * m + j]!, X[c * m + j]!];
      }
    const d = A[c * m + c]!;
    for (let r = 0; r < m; r++) {
      if (r === c) continue;
      const f = A[r * m + c]! / d;
      if (f === 0) continue;
      for (let j = 0; j < m; j++) {
        A[r * m + j] -= f * A[c * m + j]!;
        X[r * m + j] -= f * X[c * m + j]!;
      }
    }
  }
  for (let r = 0; r < m; r++) for (let j = 0; j < m; j++) X[r * m + j] /= A[r * m + r]!;
  return X;
}

/** One stored point of the history: t, y, F(t, y) and their projections on the current Q. */
interface Point {
  t: number;
  y: Float64Array;
  F: Float64Array;
  yHat: Float64Array;
  FHat: Float64Array;
}

/**
 * Exponential Adams PECE as a `Stepper`, the stiff part given by `o.linearPart`; predictor orders
 * up to `maxOrder` (1 to 7; the corrector is one higher).
 * @example
 *   // y' = −diag(100, 0)·y + sin(t) with Q = e1, λ = 100
 *   solve('exponential', F, 0, y0, 10, { maxOrder: 7, lowRank: { linearPart: () => ({ Q: Float64Array.of(1, 0), lambda: Float64Array.of(100), rank: 1 }), ops } });
 */
export function etdAdamsStepper(F: Rhs, n: number, tol: Tolerances, counters: Counters, o: LowRankOptions & { maxOrder?: number }): Stepper {
  const { rtol, atol } = tol;
  const maxOrder = Math.max(1, Math.min(7, o.maxOrder ?? 5)); // φ up to order 8: see phiAll
  let A: LowRankStiff = NO_STIFF_PART;
  let r = 0;
  const { project, expand } = o.ops;
  const combine = o.ops.combine ?? combineJs;
  const projectMany = o.ops.projectMany ?? ((Q, n, r, vs, outs) => vs.forEach((v, j) => project(Q, n, r, v, outs[j]!)));

  const newPoint = (): Point => ({ t: 0, y: new Float64Array(n), F: new Float64Array(n), yHat: new Float64Array(r), FHat: new Float64Array(r) });
  // history[0] is the newest accepted point; at most maxOrder are kept. `spare` receives the
  // next accepted point (the oldest one is recycled into it once the history is full).
  let history: Point[] = [];
  let spare = newPoint();

  // Scratch: φ tables per step size, the combination's coefficients, predicted/corrected states.
  const K = maxOrder + 1;
  let phi = new Float64Array((K + 1) * r);
  const phiRow = new Float64Array(K + 1);
  let phiH = NaN;
  const setPhi = (h: number) => {
    if (h === phiH) return;
    for (let j = 0; j < r; j++) {
      phiAll(-h * A.lambda[j]!, K, phiRow);
      for (let k = 0; k <= K; k++) phi[k * r + j] = phiRow[k]!;
    }
    phiH = h;
  };
  const yPred = new Float64Array(n), FPred = new Float64Array(n), yCorr = new Float64Array(n), qc = new Float64Array(n);
  let yPredHat = new Float64Array(r), FPredHat = new Float64Array(r), yCorrHat = new Float64Array(r), coef = new Float64Array(r);
  /** A new rank: every r-vector is reallocated (the history's are recomputed by `prepare`). */
  const resize = () => {
    r = A.rank;
    for (const p of [...history, spare]) {
      p.yHat = new Float64Array(r);
      p.FHat = new Float64Array(r);
    }
    [yPredHat, FPredHat, yCorrHat, coef] = [0, 0, 0, 0].map(() => new Float64Array(r));
    phi = new Float64Array((K + 1) * r);
  };

  /**
   * out = φ0(hA)·y_n + h Σ_j j!·d_j·φ_{j+1}(hA) with d = V⁻¹·(N at the nodes): the N values are
   * those of `pts` (N_i = F_i + Q(λ ⊙ ŷ_i)), plus (F, F̂, ŷ) of the predicted point if given.
   */
  const advance = (h: number, pts: Point[], extra: { F: Float64Array; FHat: Float64Array; yHat: Float64Array } | null, out: Float64Array, outHat: Float64Array) => {
    const yn = pts[0]!;
    const m = pts.length + (extra ? 1 : 0);
    // nodes s: the extra (new) point at s = 1 first, then the past ones
    const s = new Float64Array(m);
    let c = 0;
    if (extra) s[c++] = 1;
    for (const p of pts) s[c++] = (p.t - yn.t) / h;
    const V = new Float64Array(m * m);
    for (let i = 0; i < m; i++) for (let j = 0, x = 1; j < m; j++, x *= s[i]!) V[i * m + j] = x;
    const Vinv = inverse(V, m);
    // weight of node i in the φ_{j+1} term: h·j!·Vinv[j][i]; in full: Σ_j weight·(x_i/(j+1)!).
    setPhi(h);
    coef.fill(0);
    outHat.fill(0);
    // φ0 term on y_n = x (z = 0): x + Q[(φ0 − 1)·x̂]; projection φ0·ŷ.
    for (let l = 0; l < r; l++) {
      coef[l] += (phi[l]! - 1) * yn.yHat[l]!;
      outHat[l] += phi[l]! * yn.yHat[l]!;
    }
    // the n-vector part y_n + Σ_i full_i·F_i + Q·coef, summed below in one pass
    weights.length = 0;
    values.length = 0;
    for (let i = 0; i < m; i++) {
      const node = extra ? (i === 0 ? extra : pts[i - 1]!) : pts[i]!;
      let full = 0;
      for (let j = 0, jf = 1; j < m; j++, jf *= j) {
        const wgt = h * jf * Vinv[j * m + i]!;
        if (wgt === 0) continue;
        const k = j + 1;
        full += wgt * FACT_INV[k]!;
        const row = k * r;
        for (let l = 0; l < r; l++) {
          // N = x + Qz with x = F, z = λ ⊙ ŷ, N̂ = F̂ + z, x̂ = F̂
          const z = A.lambda[l]! * node.yHat[l]!;
          const ph = phi[row + l]!;
          coef[l] += wgt * (ph * z + (ph - FACT_INV[k]!) * node.FHat[l]!);
          outHat[l] += wgt * ph * (node.FHat[l]! + z);
        }
      }
      if (full !== 0) weights.push(full), values.push(node.F);
    }
    expand(A.Q, n, r, coef, qc);
    // qc as a last term of weight 1 (1·x = x exactly): out = ((y + w_0F_0) + w_1F_1 …) + qc
    weights.push(1), values.push(qc);
    combine(out, yn.y, Float64Array.from(weights), values, n);
  };
  const weights: number[] = [], values: Float64Array[] = [];

  let order = 1, k = 1, stepsSince = 0, started = false;
  return {
    n,
    // the predictor's local error, err ∝ h^(k+1), for the order k of the last attempt
    get errorExponent() { return k + 1; },
    get y() { return history[0]!.y; },
    get f0() { return history[0]!.F; },
    stiffnessThreshold: null,
    lastStiffness: NaN,
    note: '',
    init(t0, y0) {
      const first = newPoint();
      first.t = t0;
      first.y.set(y0);
      counters.rhsEvals++;
      F(t0, first.y, first.F);
      history = [first];
      order = 1;
      return allFinite(first.F) ? null : { time: t0, what: 'f(t, y)' };
    },
    startStep: (span) => 1e-4 * span,
    prepare(t, h) {
      const next = o.linearPart(t, history[0]!.y, stepsSince, h);
      if (started && next === A) return;
      A = next;
      stepsSince = 0;
      if (A.rank !== r) resize();
      phiH = NaN;
      if (!started) {
        // the first point: its projections on the first stiff part
        started = true;
        const p = history[0]!;
        project(A.Q, n, r, p.y, p.yHat);
        project(A.Q, n, r, p.F, p.FHat);
      } else projectMany(A.Q, n, r, history.flatMap((q) => [q.y, q.F]), history.flatMap((q) => [q.yHat, q.FHat]));
    },
    attempt(t, h): number | Fault {
      k = Math.min(order, history.length);
      const pts = history.slice(0, k);
      advance(h, pts, null, yPred, yPredHat);
      counters.rhsEvals++;
      F(t + h, yPred, FPred);
      if (!allFinite(FPred)) return { time: t + h, what: 'f(t, y)' };
      project(A.Q, n, r, FPred, FPredHat);
      advance(h, pts, { F: FPred, FHat: FPredHat, yHat: yPredHat }, yCorr, yCorrHat);
      return scaledErrorNorm(history[0]!.y, yCorr, yPred, 1, rtol, atol);
    },
    accept(_t, _h, _needDense, tNew) {
      // Accept the corrected value; F there starts the next step.
      const p = spare;
      p.t = tNew;
      p.y.set(yCorr);
      p.yHat.set(yCorrHat);
      counters.rhsEvals++;
      F(p.t, p.y, p.F);
      if (!allFinite(p.F)) return { time: p.t, what: 'f(t, y)' };
      project(A.Q, n, r, p.F, p.FHat);
      history.unshift(p);
      spare = history.length > maxOrder ? history.pop()! : newPoint();
      stepsSince++;
      order = Math.min(maxOrder, order + 1);
      return null;
    },
  };
}
