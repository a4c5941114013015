/**
 * An exponential integrator for y' = F(t, y) whose stiffness lives in a low-rank symmetric part:
 * the split F(t, y) = A·y + N(t, y) with A = −Q diag(λ) Qᵀ (Q: n×r with orthonormal columns,
 * λ ≥ 0), N = F − A·y. For a gradient flow on the square loss, A is the Gauss–Newton part
 * −JᵀJ of the flow's Jacobian (rank ≤ k, the number of outputs) and holds all of its large
 * eigenvalues; N is what is left (the second-order term and the drift of J), which is small.
 * Any A gives an exact split; the caller may replace A at any accepted step (`linearPart`),
 * e.g. with the Gauss–Newton matrix at the current point.
 *
 * The step is ETDRK4 of Cox & Matthews (J. Comput. Phys. 176, 2002), with φ_j = φ_j(hA) or
 * φ_j(hA/2) as written:
 *
 *   a  = φ0 y + (h/2) φ1 N(t, y)                          (at h/2)
 *   b  = φ0 y + (h/2) φ1 N(t + h/2, a)                    (at h/2)
 *   c  = φ0 a + (h/2) φ1 (2 N(t + h/2, b) − N(t, y))      (at h/2)
 *   y⁺ = φ0 y + h [(φ1 − 3φ2 + 4φ3) N_y + 2(φ2 − 2φ3)(N_a + N_b) + (4φ3 − φ2) N_c]
 *
 * φ0(z) = e^z, φ1(z) = (e^z − 1)/z, φ2(z) = (e^z − 1 − z)/z², φ3(z) = (e^z − 1 − z − z²/2)/z³.
 * The step size comes from step doubling (one step of h against two of h/2; the error of the
 * pair is ≈ (y_{h/2} − y_h)/15, and the Richardson-extrapolated value, of order 5, is kept).
 * Cheaper embedded estimates fail here: the one that swaps N_c for N(t + h, y⁺) (RK4's classic
 * embedding) is blind to how F depends on t — zero for y' = g(t) — and the flows this solver
 * serves are non-autonomous (the deviation from the linearized flow w̄(t)); the exponential
 * trapezoid rule is only second order and asked for four times the steps (measured).
 *
 * The low rank makes every φ cheap: φ_j(hA)v = v/j! + Q[(φ_j(−hλ) − 1/j!) ⊙ Qᵀv]. The solver
 * keeps each vector as a full part x plus a Q-part z (v = x + Qz) with its projection
 * v̂ = Qᵀx + z, so a stage costs one product with Q (its reconstruction) and one with Qᵀ (the
 * projection of the new F), never one per φ.
 *
 * The method is a `Stepper` run by the one integration loop (`driver.ts`: `solve('etdrk4', …)`)
 * with an I controller; it has no dense output, so its steps end on the output times.
 */
import { allFinite, type Counters, type Fault, type Stepper, type Tolerances } from './driver.ts';

/** The stiff part A = −Q diag(λ) Qᵀ, Q row-major n×r with orthonormal columns. */
export interface LowRankStiff {
  readonly Q: Float64Array;
  readonly lambda: Float64Array;
  readonly rank: number;
}

import type { Rhs } from './types.ts';

/** The matrix products the solver needs (a backend's gemv). */
export interface LowRankOps {
  /** out (r) = Qᵀ v (v: n). */
  project(Q: Float64Array, n: number, r: number, v: Float64Array, out: Float64Array): void;
  /** out (n) = Q c (c: r). */
  expand(Q: Float64Array, n: number, r: number, c: Float64Array, out: Float64Array): void;
  /**
   * outs[j] = Qᵀ vs[j] for all j at once (optional: one pass over Q instead of one per vector,
   * for the re-projection of a history on a new Q).
   */
  projectMany?(Q: Float64Array, n: number, r: number, vs: Float64Array[], outs: Float64Array[]): void;
  /**
   * out = ((x + w_0·v_0) + w_1·v_1) + … (optional: a backend's `combine`, bitwise the JS
   * reference `combine` of runtime/kernels-js.ts, which is the default).
   */
  combine?(out: Float64Array, x: Float64Array | null, w: Float64Array, v: readonly Float64Array[], n: number): void;
}

/**
 * The stiff part of an exponential method and the products with it (`SolveOptions.lowRank`).
 */
export interface LowRankOptions {
  /**
   * The stiff part to use from (t, y) on, asked at t0 and after every accepted step: return the
   * previous object to keep it. `stepsSince` counts the accepted steps since it last changed;
   * `h` is the size of the step about to be taken (later ones may be smaller, after a
   * rejection, or larger: it is asked again after each). Modes left out of A are integrated
   * explicitly, so a caller may leave out those with h·λ small (see `flow.ts`).
   */
  linearPart: (t: number, y: Float64Array, stepsSince: number, h: number) => LowRankStiff;
  ops: LowRankOps;
}

/** No stiff part (rank 0): the exponential methods are then their explicit counterparts. */
export const NO_STIFF_PART: LowRankStiff = { Q: new Float64Array(0), lambda: new Float64Array(0), rank: 0 };

/** Products with Q as plain loops (row-major n × r), for problems without a backend at hand. */
export const PLAIN_LOW_RANK_OPS: LowRankOps = {
  project: (Q, n, r, v, out) => {
    out.fill(0, 0, r);
    for (let i = 0; i < n; i++) for (let j = 0; j < r; j++) out[j] += Q[i * r + j]! * v[i]!;
  },
  expand: (Q, n, r, c, out) => {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += Q[i * r + j]! * c[j]!;
      out[i] = s;
    }
  },
};

/**
 * φ_k(z) for scalar z, accurate for every z ≤ 0 (Taylor series near 0, where the closed forms
 * cancel).
 * @example phiScalar(1, -1e-9) // ≈ 1 − 5e-10
 */
export function phiScalar(k: 0 | 1 | 2 | 3, z: number): number {
  if (k === 0) return Math.exp(z);
  if (Math.abs(z) < 0.5) {
    // φ_k(z) = Σ_j z^j / (j + k)!
    let term = 1;
    for (let i = 2; i <= k; i++) term /= i;
    let sum = term;
    for (let j = 1; j < 30; j++) {
      term *= z / (j + k);
      sum += term;
      if (Math.abs(term) < 1e-17 * Math.abs(sum)) break;
    }
    return sum;
  }
  const e = Math.expm1(z);
  if (k === 1) return e / z;
  if (k === 2) return (e - z) / (z * z);
  return (e - z - (z * z) / 2) / (z * z * z);
}

const FACTORIAL_INV = [1, 1, 1 / 2, 1 / 6] as const;

/**
 * The step's error norm: the RMS over i of (a_i − b_i)/(d·(atol + rtol·max(|y_i|, |a_i|))) for
 * the state y before the step, a the value kept and b the one it is compared with, d what turns
 * their difference into the error estimate (Hairer–Nørsett–Wanner I, II.4). A step is accepted
 * when the norm is ≤ 1; NaN when a term is not finite.
 * @example scaledErrorNorm(y, yNew, yFull, 15, 1e-6, 1e-12) // step doubling of an order-4 method
 */
export function scaledErrorNorm(y: Float64Array, a: Float64Array, b: Float64Array, d: number, rtol: number, atol: number): number {
  const n = y.length;
  let err = 0;
  for (let i = 0; i < n; i++) {
    const q = (a[i]! - b[i]!) / d / (atol + rtol * Math.max(Math.abs(y[i]!), Math.abs(a[i]!)));
    if (!Number.isFinite(q)) return NaN;
    err += q * q;
  }
  return Math.sqrt(err / Math.max(1, n));
}

/** A vector v = x + Q z with its projection v̂ = Qᵀx + z (z absent: 0). */
interface Split {
  x: Float64Array;
  z: Float64Array | null;
  hat: Float64Array;
}

/**
 * ETDRK4 with step doubling as a `Stepper`, the stiff part given by `o.linearPart`.
 * @example
 *   // y' = −diag(100, 0)·y + sin(t) with Q = e1, λ = 100
 *   solve('etdrk4', F, 0, y0, 10, { lowRank: { linearPart: () => ({ Q: Float64Array.of(1, 0), lambda: Float64Array.of(100), rank: 1 }), ops } });
 */
export function etdRk4Stepper(F: Rhs, n: number, tol: Tolerances, counters: Counters, o: LowRankOptions): Stepper {
  const { rtol, atol } = tol;
  const vec = () => new Float64Array(n);
  let A: LowRankStiff = NO_STIFF_PART;
  let r = 0;
  const coefBuf = () => new Float64Array(Math.max(1, r));
  // Stage storage: F values (full), states (full), projections. The accepted state y with F(y)
  // (Fy) and the candidate next one (yAcc, FAcc) swap on acceptance.
  let y = vec(), Fy = vec(), yAcc = vec(), FAcc = vec();
  const Fa = vec(), Fb = vec(), Fc = vec(), Fmid = vec(), a = vec(), b = vec(), c = vec(), qc = vec();
  const yFull = vec(), yMid = vec(), yNew = vec();
  let yHat = coefBuf(), FyHat = coefBuf(), FaHat = coefBuf(), FbHat = coefBuf(), FcHat = coefBuf();
  let aHat = coefBuf(), bHat = coefBuf(), cHat = coefBuf(), coef = coefBuf();
  let zy = coefBuf(), za = coefBuf(), zb = coefBuf(), zc = coefBuf(), FmidHat = coefBuf();
  let yFullHat = coefBuf(), yMidHat = coefBuf(), yNewHat = coefBuf(), yAccHat = coefBuf();
  const resize = () => {
    r = A.rank;
    [yHat, FyHat, FaHat, FbHat, FcHat, aHat, bHat, cHat, coef, zy, za, zb, zc, FmidHat, yFullHat, yMidHat, yNewHat, yAccHat] = Array.from({ length: 18 }, coefBuf);
  };
  /** F(t, y) into out and its projection; a fault when F is not finite there. */
  let fault: Fault | null = null;
  const evalF = (t: number, y: Float64Array, out: Float64Array, outHat: Float64Array) => {
    counters.rhsEvals++;
    F(t, y, out);
    if (!allFinite(out)) fault ??= { time: t, what: 'f(t, y)' };
    o.ops.project(A.Q, n, r, out, outHat);
  };
  /** N_s = F_s − A s = F_s + Q(λ ⊙ ŝ): its Q-part and projection. */
  const nonlinear = (Fs: Float64Array, FsHat: Float64Array, sHat: Float64Array, z: Float64Array): Split => {
    for (let j = 0; j < r; j++) z[j] = A.lambda[j]! * sHat[j]!;
    const hat = new Float64Array(r);
    for (let j = 0; j < r; j++) hat[j] = FsHat[j]! + z[j]!;
    return { x: Fs, z, hat };
  };
  /**
   * out = Σ_i w_i φ_{k_i}(h_i A) v_i and its projection:
   *   φ_k(hA)(x + Qz) = x/k! + Q[φ_k(−hλ) ⊙ z + (φ_k(−hλ) − 1/k!) ⊙ x̂],   Qᵀ(…) = φ_k(−hλ) ⊙ v̂.
   */
  const combine = (terms: [number, 0 | 1 | 2 | 3, number, Split][], out: Float64Array, outHat: Float64Array | null) => {
    out.fill(0);
    coef.fill(0);
    if (outHat) outHat.fill(0);
    for (const [w, k, h, v] of terms) {
      const f = FACTORIAL_INV[k];
      const xh = v.hat;
      for (let i = 0; i < n; i++) out[i] += w * f * v.x[i]!;
      for (let j = 0; j < r; j++) {
        const phi = phiScalar(k, -h * A.lambda[j]!);
        const z = v.z ? v.z[j]! : 0;
        // x̂ = v̂ − z
        coef[j] += w * (phi * z + (phi - f) * (xh[j]! - z));
        if (outHat) outHat[j] += w * phi * xh[j]!;
      }
    }
    o.ops.expand(A.Q, n, r, coef, qc);
    for (let i = 0; i < n; i++) out[i] += qc[i]!;
  };

  /**
   * One ETDRK4 step of size h from (t, y) with F(t, y) = Fy0 (and the projections ŷ, F̂y0)
   * into `out` and its projection `outHat`.
   */
  const step = (t: number, y: Float64Array, yH: Float64Array, Fy0: Float64Array, Fy0H: Float64Array, h: number, out: Float64Array, outHat: Float64Array) => {
    const h2 = h / 2;
    const Y: Split = { x: y, z: null, hat: yH };
    const Ny = nonlinear(Fy0, Fy0H, yH, zy);
    combine([[1, 0, h2, Y], [h2, 1, h2, Ny]], a, aHat);
    evalF(t + h2, a, Fa, FaHat);
    const Na = nonlinear(Fa, FaHat, aHat, za);
    combine([[1, 0, h2, Y], [h2, 1, h2, Na]], b, bHat);
    evalF(t + h2, b, Fb, FbHat);
    const Nb = nonlinear(Fb, FbHat, bHat, zb);
    combine([[1, 0, h2, { x: a, z: null, hat: aHat }], [2 * h2, 1, h2, Nb], [-h2, 1, h2, Ny]], c, cHat);
    evalF(t + h, c, Fc, FcHat);
    const Nc = nonlinear(Fc, FcHat, cHat, zc);
    // y⁺ in the φ basis: φ1 N_y + φ2 (−3N_y + 2N_a + 2N_b − N_c) + φ3 (4N_y − 4N_a − 4N_b + 4N_c)
    combine([
      [1, 0, h, Y],
      [h, 1, h, Ny],
      [-3 * h, 2, h, Ny], [2 * h, 2, h, Na], [2 * h, 2, h, Nb], [-h, 2, h, Nc],
      [4 * h, 3, h, Ny], [-4 * h, 3, h, Na], [-4 * h, 3, h, Nb], [4 * h, 3, h, Nc],
    ], out, outHat);
  };

  let stepsSince = 0, started = false;
  return {
    n,
    // step doubling of an order-4 method: err ∝ h⁵
    errorExponent: 5,
    get y() { return y; },
    get f0() { return Fy; },
    stiffnessThreshold: null,
    lastStiffness: NaN,
    note: '',
    init(t0, y0) {
      y.set(y0);
      fault = null;
      counters.rhsEvals++;
      F(t0, y, Fy);
      return allFinite(Fy) ? null : { time: t0, what: 'f(t, y)' };
    },
    startStep: (span) => span / 100,
    prepare(t, h) {
      // The stiff part from here on; ŷ and F̂y against it (ŷ is carried over from the step while A stays).
      const next = o.linearPart(t, y, stepsSince, h);
      if (!started || next !== A) {
        started = true;
        A = next;
        stepsSince = 0;
        if (A.rank !== r) resize();
        o.ops.project(A.Q, n, r, y, yHat);
      }
      o.ops.project(A.Q, n, r, Fy, FyHat);
    },
    attempt(t, h) {
      fault = null;
      // Step doubling: one step of h against two of h/2.
      step(t, y, yHat, Fy, FyHat, h, yFull, yFullHat);
      step(t, y, yHat, Fy, FyHat, h / 2, yMid, yMidHat);
      evalF(t + h / 2, yMid, Fmid, FmidHat);
      step(t + h / 2, yMid, yMidHat, Fmid, FmidHat, h / 2, yNew, yNewHat);
      if (fault) return fault;
      // the pair's error is ≈ (y_{h/2} − y_h)/15
      return scaledErrorNorm(y, yNew, yFull, 15, rtol, atol);
    },
    accept(_t, _h, _needDense, tNew) {
      // Richardson extrapolation (order 5); the projection is linear, so it extrapolates alike.
      for (let i = 0; i < n; i++) yAcc[i] = yNew[i]! + (yNew[i]! - yFull[i]!) / 15;
      for (let j = 0; j < r; j++) yAccHat[j] = yNewHat[j]! + (yNewHat[j]! - yFullHat[j]!) / 15;
      counters.rhsEvals++;
      F(tNew, yAcc, FAcc);
      if (!allFinite(FAcc)) return { time: tNew, what: 'f(t, y)' };
      [y, yAcc] = [yAcc, y];
      [Fy, FAcc] = [FAcc, Fy];
      [yHat, yAccHat] = [yAccHat, yHat];
      stepsSince++;
      return null;
    },
  };
}
