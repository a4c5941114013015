/**
 * Mehler's expansion of a Gaussian pair expectation, vectorized over many pairs:
 *
 *   E[f(u) g(v)] = Σ_k ρ^k a_k b_k,   (u, v) ~ N(0, [[p, c], [c, q]]), ρ = c/√(pq),
 *   a_k = E[f(√p z) He_k(z)]/√k!,  b_k = E[g(√q z) He_k(z)]/√k!,  z ~ N(0, 1).
 *
 * The coefficients depend on one variance each, so for a grid of N×N pairs they are computed once
 * per distinct variance (N of them), all at once: the function values at the nodes of a fixed
 * 1-D rule form a matrix F (variances × nodes) and the coefficients are F·H, with H the weighted
 * normalized Hermite polynomials at the nodes (a gemm: the backend's when the caller passes it).
 * The rule is composite Gauss–Legendre on [−12, 12] (mass beyond: < 2e-33, and by Cauchy–Schwarz
 * the neglected part of every coefficient is below √P(|z| > 12)·max|f| ≈ 2e-16·max|f|), refined
 * (24, 48, 96, … panels of 16 points) for the variances where two successive rules disagree
 * (beyond 1e-3·tol, or rounding: 64ε, of the coefficients' norm).
 *
 * Each pair then costs as many multiply-adds as its series needs, and the truncation is bounded
 * rigorously: by Cauchy–Schwarz and |ρ| ≤ 1,
 *
 *   |Σ_{j≥k} ρ^j a_j b_j| ≤ |ρ|^k · √(Σ_{j≥k} a_j²) · √(Σ_{j≥k} b_j²),
 *
 * where the tail beyond the last computed coefficient is known from Parseval,
 * Σ_{j≥K} a_j² = E[f(√p z)²] − Σ_{j<K} a_j² (plus its rounding). A pair stops at the first k
 * where the bound is below tol·√(E[f²]E[g²]); a pair where it never is (|ρ| near 1 with slowly
 * decaying coefficients, kinks) is returned as rejected, for the caller's 2-D quadrature.
 *
 * @example
 *   const t = hermiteTable(tanh, Float64Array.of(1, 2), 1e-12);
 *   const s = new MehlerSeries(t, t, 1e-12);
 *   s.value(0, 1, 0.5);  // E[tanh(u) tanh(v)], Var u = 1, Var v = 2, ρ = 0.5
 */
import { gaussLegendre, type Rule } from './quadrature.ts';
import type { GaussFn } from './gaussian.ts';

/** C = A·B, row-major, A m×k, B k×n (the backend's gemm where the caller has one). */
export type Gemm = (A: Float64Array, B: Float64Array, m: number, k: number, n: number) => Float64Array;

/** The reference product (i-l-j order: rows of B streamed). */
export const jsGemm: Gemm = (A, B, m, k, n) => {
  const C = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let l = 0; l < k; l++) {
      const a = A[i * k + l]!;
      if (a === 0) continue;
      const bl = l * n;
      for (let j = 0; j < n; j++) C[ci + j]! += a * B[bl + j]!;
    }
  }
  return C;
};

/** Number of coefficients (k = 0 … K1 − 1). */
export const MEHLER_K1 = 256;
/** The tail bound is checked every STRIDE terms. */
const STRIDE = 8;
const TS = MEHLER_K1 / STRIDE + 1;
const PANELS = [24, 48, 96, 192, 384];
const PER = 16;
const CUT = 12;

interface Basis {
  z: Float64Array;
  w: Float64Array;
  /** Q × K1: H[i, k] = w_i · He_k(z_i)/√k!. */
  H: Float64Array;
}
const basisCache = new Map<number, Basis>();

function basis(panels: number): Basis {
  let b = basisCache.get(panels);
  if (b) return b;
  const gl: Rule = gaussLegendre(PER);
  const Q = panels * PER, h = (2 * CUT) / panels;
  const z = new Float64Array(Q), w = new Float64Array(Q);
  for (let p = 0; p < panels; p++)
    for (let i = 0; i < PER; i++) {
      const x = -CUT + p * h + ((gl.nodes[i]! + 1) * h) / 2;
      z[p * PER + i] = x;
      w[p * PER + i] = ((gl.weights[i]! * h) / 2) * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
    }
  const H = new Float64Array(Q * MEHLER_K1);
  for (let i = 0; i < Q; i++) {
    // normalized recurrence: p_{k+1} = (z p_k − √k p_{k−1})/√(k+1)
    let pm = 0, pk = 1;
    const x = z[i]!;
    for (let k = 0; k < MEHLER_K1; k++) {
      H[i * MEHLER_K1 + k] = w[i]! * pk;
      const next = (x * pk - Math.sqrt(k) * pm) / Math.sqrt(k + 1);
      pm = pk;
      pk = next;
    }
  }
  b = { z, w, H };
  basisCache.set(panels, b);
  return b;
}

/** The Hermite coefficients of f at each of a set of variances, with their tails. */
export interface HermiteTable {
  /** vars.length × K1. */
  A: Float64Array;
  /** vars.length × TS: tail[m] = √(Σ_{j ≥ m·STRIDE} a_j² + the Parseval tail beyond K1). */
  tail: Float64Array;
  /** E[f(√p z)²] per variance. */
  norm2: Float64Array;
  /** ‖computed − exact coefficients‖₂ (estimated by the last two rules) per variance. */
  err: Float64Array;
  /** 0 where the rules did not converge (the pairs there go to the 2-D quadrature). */
  ok: Uint8Array;
  /** Largest number of nodes used. */
  order: number;
}

/**
 * The Hermite coefficients of f(√p z) for every p of `vars` (see the module comment): rules of
 * 24, 48, … panels until two successive ones agree to max(1e-3·tol, 64ε) of the coefficients' norm.
 */
export function hermiteTable(f: GaussFn, vars: Float64Array, tol: number, gemm: Gemm = jsGemm): HermiteTable {
  const nv = vars.length, K1 = MEHLER_K1;
  const A = new Float64Array(nv * K1), norm2 = new Float64Array(nv), err = new Float64Array(nv).fill(Infinity);
  const ok = new Uint8Array(nv), tail = new Float64Array(nv * TS);
  let active = Int32Array.from({ length: nv }, (_, i) => i);
  let prev: Float64Array | null = null;
  let order = 0;
  // two rules agree to rounding (~√Q·ε of the norm, a few 1e-15): the criterion cannot ask for less
  const agree = Math.max(1e-3 * tol, 64 * Number.EPSILON);
  for (let lv = 0; lv < PANELS.length && active.length > 0; lv++) {
    const { z, w, H } = basis(PANELS[lv]!);
    const Q = z.length, na = active.length;
    order = Q;
    const X = new Float64Array(na * Q), F = new Float64Array(na * Q);
    for (let r = 0; r < na; r++) {
      const sd = Math.sqrt(Math.max(vars[active[r]!]!, 0));
      for (let i = 0; i < Q; i++) X[r * Q + i] = sd * z[i]!;
    }
    f.eval(X, F);
    const C = gemm(F, H, na, Q, K1);
    const keep: number[] = [], keepRows: number[] = [];
    for (let r = 0; r < na; r++) {
      const v = active[r]!;
      let n2 = 0;
      for (let i = 0; i < Q; i++) n2 += w[i]! * F[r * Q + i]! * F[r * Q + i]!;
      if (prev) {
        let d = 0, c2 = 0;
        for (let k = 0; k < K1; k++) {
          const x = C[r * K1 + k]!, e = x - prev[r * K1 + k]!;
          d += e * e;
          c2 += x * x;
        }
        d = Math.sqrt(d);
        const last = lv === PANELS.length - 1;
        if (Number.isFinite(d) && Number.isFinite(n2) && (d <= agree * Math.sqrt(Math.max(c2, n2)) || d === 0)) {
          A.set(C.subarray(r * K1, (r + 1) * K1), v * K1);
          norm2[v] = n2;
          err[v] = Math.max(d, 4 * Number.EPSILON * Math.sqrt(n2));
          ok[v] = 1;
          continue;
        }
        if (last) continue;
      }
      keep.push(v);
      keepRows.push(r);
    }
    if (keep.length === 0) break;
    const next = new Float64Array(keep.length * K1);
    keepRows.forEach((r, j) => next.set(C.subarray(r * K1, (r + 1) * K1), j * K1));
    prev = next;
    active = Int32Array.from(keep);
  }
  // tails: suffix sums of a_j² and the Parseval remainder (with its rounding and the
  // coefficients' error folded in, so that the bound stays a bound)
  for (let v = 0; v < nv; v++) {
    if (!ok[v]) continue;
    let s = 0;
    const o = v * K1, t = v * TS;
    const suffix = new Float64Array(K1 + 1);
    for (let k = K1 - 1; k >= 0; k--) suffix[k] = s += A[o + k]! * A[o + k]!;
    const n = Math.sqrt(norm2[v]!);
    const beyond = Math.max(norm2[v]! - s, 0) + 64 * Number.EPSILON * norm2[v]! + 2 * err[v]! * n + err[v]! * err[v]!;
    for (let m = 0; m < TS; m++) tail[t + m] = Math.sqrt(suffix[m * STRIDE]! + beyond);
  }
  return { A, tail, norm2, err, ok, order };
}

/** The distinct values of v and, for each entry, the index of its value. */
export function distinct(v: Float64Array): { vars: Float64Array; row: Int32Array } {
  const index = new Map<number, number>(), row = new Int32Array(v.length), vals: number[] = [];
  for (let i = 0; i < v.length; i++) {
    let r = index.get(v[i]!);
    if (r === undefined) {
      r = vals.length;
      vals.push(v[i]!);
      index.set(v[i]!, r);
    }
    row[i] = r;
  }
  return { vars: Float64Array.from(vals), row };
}

/**
 * The series of one pair of tables: `value(ia, ib, ρ)` is E[f(u)g(v)] with the variances of rows
 * ia and ib, or NaN when the tail bound does not reach tol (the caller integrates that pair in
 * 2-D). `accuracy` is the largest error bound of the values returned: the tail, the
 * coefficients' error (‖δa‖‖b‖ + ‖a‖‖δb‖) and the rounding of the sum.
 */
export class MehlerSeries {
  accuracy = 0;
  constructor(readonly ta: HermiteTable, readonly tb: HermiteTable, readonly tol: number) {}

  value(ia: number, ib: number, rho: number): number {
    const ta = this.ta, tb = this.tb;
    if (!ta.ok[ia] || !tb.ok[ib]) return NaN;
    const A = ta.A, B = tb.A, TA = ta.tail, TB = tb.tail;
    const scale = Math.sqrt(ta.norm2[ia]! * tb.norm2[ib]!);
    const thr = 0.5 * this.tol * scale;
    const oa = ia * MEHLER_K1, ob = ib * MEHLER_K1, pa = ia * TS, pb = ib * TS;
    let s = 0, r = 1, k = 0, bound = Infinity;
    for (let m = 0; m < TS; m++) {
      bound = Math.abs(r) * TA[pa + m]! * TB[pb + m]!;
      if (bound <= thr || m === TS - 1) break;
      for (let t = 0; t < STRIDE; t++, k++) {
        s += r * A[oa + k]! * B[ob + k]!;
        r *= rho;
      }
    }
    if (!(bound <= thr)) return NaN;
    const e = bound + ta.err[ia]! * Math.sqrt(tb.norm2[ib]!) + tb.err[ib]! * Math.sqrt(ta.norm2[ia]!) + (k + 4) * Number.EPSILON * scale;
    if (e > this.accuracy) this.accuracy = e;
    return s;
  }
}

