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
 */
import type { SolveResult } from './types.ts';
import { scaledErrorNorm, stuck, type EtdOptions, type LowRankStiff, type Rhs } from './etd.ts';
import { combine as combineJs } from '../../runtime/kernels-js.ts';

/** Gauss–Legendre nodes and weights on [0, 1] (48 points: exact for degree 95). */
const GL = gaussLegendre(48);

function gaussLegendre(n: number): { x: Float64Array; w: Float64Array } {
  const x = new Float64Array(n), w = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Newton on P_n from the Chebyshev-like guess; P_n and P_n' by the three-term recurrence.
    let t = Math.cos((Math.PI * (i + 0.75)) / (n + 0.5));
    let dp = 1;
    for (let it = 0; it < 100; it++) {
      let p0 = 1, p1 = t;
      for (let k = 2; k <= n; k++) [p0, p1] = [p1, ((2 * k - 1) * t * p1 - (k - 1) * p0) / k];
      dp = (n * (t * p1 - p0)) / (t * t - 1);
      const dt = p1 / dp;
      t -= dt;
      if (Math.abs(dt) < 1e-16) break;
    }
    x[i] = (1 - t) / 2;
    w[i] = 1 / ((1 - t * t) * dp * dp);
  }
  return { x, w };
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
  const { x, w } = GL;
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

export interface EtdAdamsOptions extends EtdOptions {
  /** Highest order of the predictor (default 5, at most 7; the corrector is one order higher). */
  maxOrder?: number;
}

/**
 * Integrate y' = F(t, y) from t0 to T by exponential Adams PECE with the stiff part given by
 * `opts.linearPart` (see `solveEtd` for the split and the options).
 * @example
 *   // y' = −diag(100, 0)·y + sin(t) with Q = e1, λ = 100
 *   solveEtdAdams(F, 0, y0, 10, { linearPart: () => ({ Q: Float64Array.of(1, 0), lambda: Float64Array.of(100), rank: 1 }), ops });
 */
export function solveEtdAdams(F: Rhs, t0: number, y0: Float64Array, T: number, opts: EtdAdamsOptions): SolveResult {
  const n = y0.length;
  const rtol = opts.rtol ?? 1e-8, atol = opts.atol ?? 1e-10;
  const maxSteps = opts.maxSteps ?? 100000;
  const maxOrder = Math.max(1, Math.min(7, opts.maxOrder ?? 5)); // φ up to order 8: see phiAll
  const stats = { steps: 0, rejected: 0, rhsEvals: 0, jvpEvals: 0 };
  let h = opts.h0 ?? Math.min(T - t0, 1e-4 * (T - t0));
  let A: LowRankStiff = opts.linearPart(t0, y0, 0, h);
  let r = A.rank;
  const { project, expand } = opts.ops;
  const combine = opts.ops.combine ?? combineJs;
  const projectMany = opts.ops.projectMany ?? ((Q, n, r, vs, outs) => vs.forEach((v, j) => project(Q, n, r, v, outs[j]!)));

  const newPoint = (): Point => ({ t: 0, y: new Float64Array(n), F: new Float64Array(n), yHat: new Float64Array(r), FHat: new Float64Array(r) });
  // history[0] is the newest accepted point; at most maxOrder are kept.
  let history: Point[] = [];
  const evalF = (t: number, y: Float64Array, out: Float64Array, outHat: Float64Array) => {
    stats.rhsEvals++;
    F(t, y, out);
    project(A.Q, n, r, out, outHat);
  };

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
  /** A new rank: every r-vector is reallocated (the history's are recomputed by the caller). */
  const resize = () => {
    r = A.rank;
    for (const p of history) {
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

  const targets = [...(opts.times ?? []).filter((t) => t > t0 && t < T), T];
  const outT: number[] = [], outY: Float64Array[] = [];
  let status: SolveResult['status'] = 'ok';
  let message: string | undefined;

  const first = newPoint();
  first.t = t0;
  first.y.set(y0);
  project(A.Q, n, r, first.y, first.yHat);
  evalF(t0, first.y, first.F, first.FHat);
  history = [first];
  let order = 1, target = 0, stepsSince = 0;
  while (target < targets.length) {
    if (stats.steps + stats.rejected >= maxSteps) {
      status = 'maxSteps';
      message = `the exponential Adams method reached ${maxSteps} steps at t = ${history[0]!.t.toPrecision(4)}: loosen the tolerance or shorten the horizon`;
      break;
    }
    const t = history[0]!.t;
    const goal = targets[target]!;
    const last = t + h >= goal * (1 - 1e-14);
    const hh = last ? goal - t : h;
    const k = Math.min(order, history.length);
    const pts = history.slice(0, k);
    advance(hh, pts, null, yPred, yPredHat);
    evalF(t + hh, yPred, FPred, FPredHat);
    advance(hh, pts, { F: FPred, FHat: FPredHat, yHat: yPredHat }, yCorr, yCorrHat);
    const err = scaledErrorNorm(history[0]!.y, yCorr, yPred, 1, rtol, atol);
    if (Number.isNaN(err)) {
      const end = stuck('nonFinite', hh, t);
      if (end) {
        ({ status, message } = end);
        break;
      }
      h = hh / 10;
      stats.rejected++;
      continue;
    }
    const factor = Math.min(2, Math.max(0.2, 0.9 * Math.pow(Math.max(err, 1e-12), -1 / (k + 1))));
    if (err > 1) {
      stats.rejected++;
      h = hh * factor;
      const end = stuck('stepTooSmall', h, t);
      if (end) {
        ({ status, message } = end);
        break;
      }
      continue;
    }
    // Accept the corrected value; F there starts the next step.
    const p = history.length >= maxOrder ? history.pop()! : newPoint();
    p.t = last ? goal : t + hh;
    p.y.set(yCorr);
    p.yHat.set(yCorrHat);
    evalF(p.t, p.y, p.F, p.FHat);
    history.unshift(p);
    stats.steps++;
    stepsSince++;
    order = Math.min(maxOrder, order + 1);
    h = last ? Math.max(h, hh * factor) : hh * factor;
    const next = opts.linearPart(p.t, p.y, stepsSince, h);
    if (next !== A) {
      A = next;
      stepsSince = 0;
      if (A.rank !== r) resize();
      phiH = NaN;
      projectMany(A.Q, n, r, history.flatMap((q) => [q.y, q.F]), history.flatMap((q) => [q.yHat, q.FHat]));
    }
    opts.onStep?.(p.t, p.y);
    if (last) {
      outT.push(p.t);
      outY.push(Float64Array.from(p.y));
      target++;
    }
  }
  const y = history[0]!;
  return {
    t: outT,
    y: outY,
    stats,
    stiffness: { detected: false, estimate: null, atTime: null, lambdaMax: null },
    status,
    ...(message ? { message } : {}),
    tFinal: y.t,
    yFinal: Float64Array.from(y.y),
  };
}
