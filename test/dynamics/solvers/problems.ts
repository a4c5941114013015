/**
 * Test problems with known solutions, reference linear algebra (Jacobi eigenvalues, expm of
 * a symmetric matrix) and the order fit, shared by the solver tests.
 */
import type { Rhs, RhsJvp } from '../../../src/dynamics/solvers/index.ts';

export interface Problem {
  name: string;
  n: number;
  t0: number;
  T: number;
  y0: Float64Array;
  f: Rhs;
  jvp: RhsJvp;
  exact: (t: number) => Float64Array;
  autonomous: boolean;
}

/**
 * Kepler's two-body problem q'' = −q/|q|³ with eccentricity e, y = (q1, q2, p1, p2), started at
 * the pericentre; exact solution through Kepler's equation E − e sin E = t (period 2π).
 */
export function kepler(e: number, T: number): Problem {
  const s = Math.sqrt(1 - e * e);
  const exact = (t: number): Float64Array => {
    let E = t;
    for (let i = 0; i < 50; i++) {
      const dE = (E - e * Math.sin(E) - t) / (1 - e * Math.cos(E));
      E -= dE;
      if (Math.abs(dE) < 1e-16) break;
    }
    const den = 1 - e * Math.cos(E);
    return Float64Array.of(Math.cos(E) - e, s * Math.sin(E), -Math.sin(E) / den, s * Math.cos(E) / den);
  };
  return {
    name: `kepler(e=${e})`, n: 4, t0: 0, T, y0: exact(0), exact, autonomous: true,
    f: (_t, y, d) => {
      const r2 = y[0]! * y[0]! + y[1]! * y[1]!, r3 = r2 * Math.sqrt(r2);
      d[0] = y[2]!; d[1] = y[3]!; d[2] = -y[0]! / r3; d[3] = -y[1]! / r3;
    },
    jvp: (_t, y, v, out) => {
      const q1 = y[0]!, q2 = y[1]!, r2 = q1 * q1 + q2 * q2, r = Math.sqrt(r2), r3 = r2 * r, r5 = r3 * r2;
      out[0] = v[2]!; out[1] = v[3]!;
      out[2] = (-1 / r3 + 3 * q1 * q1 / r5) * v[0]! + (3 * q1 * q2 / r5) * v[1]!;
      out[3] = (3 * q1 * q2 / r5) * v[0]! + (-1 / r3 + 3 * q2 * q2 / r5) * v[1]!;
    },
  };
}

/**
 * A nonlinear, non-autonomous scalar problem with a known solution:
 * y' = −y² + g(t), g = y_ex' + y_ex², y_ex(t) = 1 + sin(t)/2 + e^(−t)/4.
 */
export function riccati(T: number): Problem {
  const ex = (t: number) => 1 + Math.sin(t) / 2 + Math.exp(-t) / 4;
  const dex = (t: number) => Math.cos(t) / 2 - Math.exp(-t) / 4;
  return {
    name: 'riccati', n: 1, t0: 0, T, y0: Float64Array.of(ex(0)), autonomous: false,
    exact: (t) => Float64Array.of(ex(t)),
    f: (t, y, d) => { const e = ex(t); d[0] = -y[0]! * y[0]! + dex(t) + e * e; },
    jvp: (_t, y, v, out) => { out[0] = -2 * y[0]! * v[0]!; },
  };
}

/** y' = −λ (y − cos t), y(0) = 0 (stiff for large λ); exact solution in closed form. */
export function stiffScalar(lambda: number, T: number): Problem {
  const A = lambda * lambda / (lambda * lambda + 1), B = lambda / (lambda * lambda + 1);
  return {
    name: `stiff(λ=${lambda})`, n: 1, t0: 0, T, y0: Float64Array.of(0), autonomous: false,
    exact: (t) => Float64Array.of(A * Math.cos(t) + B * Math.sin(t) - A * Math.exp(-lambda * t)),
    f: (t, y, d) => { d[0] = -lambda * (y[0]! - Math.cos(t)); },
    jvp: (_t, _y, v, out) => { out[0] = -lambda * v[0]!; },
  };
}

/** Symmetric eigendecomposition by cyclic Jacobi rotations: A = V diag(values) Vᵀ (A row-major n×n). */
export function jacobiEigen(A: Float64Array, n: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(A), v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! ** 2;
    if (off < 1e-30) break;
    for (let p = 0; p < n; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1), s = t * c;
        for (let k = 0; k < n; k++) { // columns p, q
          const akp = a[k * n + p]!, akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq; a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) { // rows p, q
          const apk = a[p * n + k]!, aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk; a[q * n + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq; v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** exp(tA) x for symmetric A (row-major n×n) through its eigendecomposition. */
export function expmSymApply(A: Float64Array, n: number, t: number, x: Float64Array): Float64Array {
  const { values, vectors: V } = jacobiEigen(A, n);
  const c = new Float64Array(n), out = new Float64Array(n);
  for (let j = 0; j < n; j++) { let s = 0; for (let i = 0; i < n; i++) s += V[i * n + j]! * x[i]!; c[j] = s * Math.exp(t * values[j]!); }
  for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < n; j++) s += V[i * n + j]! * c[j]!; out[i] = s; }
  return out;
}

/** Least-squares slope of log(err) against log(h). */
export function fitSlope(hs: number[], errs: number[]): number {
  const x = hs.map(Math.log), y = errs.map(Math.log), m = x.length;
  const mx = x.reduce((a, b) => a + b, 0) / m, my = y.reduce((a, b) => a + b, 0) / m;
  let sxy = 0, sxx = 0;
  for (let i = 0; i < m; i++) { sxy += (x[i]! - mx) * (y[i]! - my); sxx += (x[i]! - mx) ** 2; }
  return sxy / sxx;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

export function norm2(a: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
}
