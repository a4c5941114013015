import { describe, it, expect } from 'vitest';
import { METHODS, PLAIN_LOW_RANK_OPS, solve, type SolveOptions } from '../../../src/dynamics/solvers/index.ts';
import { lcg } from '../../helpers.ts';
import { expmSymApply, jacobiEigen, norm2, riccati } from './problems.ts';

/** A random orthogonal n×n matrix (Gram–Schmidt on a deterministic random matrix), row-major. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const rand = lcg(seed), Q = new Float64Array(n * n);
  for (let j = 0; j < n; j++) {
    const v = new Float64Array(n);
    for (let i = 0; i < n; i++) v[i] = rand() - 0.5;
    for (let pass = 0; pass < 2; pass++) {
      for (let k = 0; k < j; k++) {
        let d = 0;
        for (let i = 0; i < n; i++) d += v[i]! * Q[i * n + k]!;
        for (let i = 0; i < n; i++) v[i]! -= d * Q[i * n + k]!;
      }
    }
    const nv = norm2(v);
    for (let i = 0; i < n; i++) Q[i * n + j] = v[i]! / nv;
  }
  return Q;
}

function matvec(A: Float64Array, n: number, x: Float64Array, out: Float64Array, scale = 1): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += A[i * n + j]! * x[j]!;
    out[i] = scale * s;
  }
}

function relErr2(a: Float64Array, b: Float64Array): number {
  let d = 0;
  for (let i = 0; i < a.length; i++) d += (a[i]! - b[i]!) ** 2;
  return Math.sqrt(d) / norm2(b);
}

describe("linear systems y' = A y against exp(tA)", () => {
  // A = −Q diag(1, …, 1000) Qᵀ: symmetric negative definite, condition number 1e3.
  const n = 5;
  const Q = randomOrthogonal(n, 7);
  const lambdas = [1, Math.sqrt(10), 10, 100, 1000];
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    let s = 0;
    for (let k = 0; k < n; k++) s -= Q[i * n + k]! * lambdas[k]! * Q[j * n + k]!;
    A[i * n + j] = s;
  }
  const y0 = Float64Array.of(1, -2, 0.5, 3, -1);
  const times = [1e-3, 1e-2, 0.1, 0.5, 1];

  it('the Jacobi eigen-solver reproduces the spectrum (reference check)', () => {
    const ev = Array.from(jacobiEigen(A, n).values).sort((a, b) => a - b);
    const want = lambdas.map((l) => -l).sort((a, b) => a - b);
    ev.forEach((v, i) => expect(Math.abs(v - want[i]!) / Math.abs(want[i]!)).toBeLessThan(1e-13));
  });

  for (const m of METHODS) {
    it(`${m.name}: 1e-9 relative at rtol 1e-11, also between steps`, () => {
      const opts: SolveOptions = {
        rtol: 1e-11, atol: 1e-14, times,
        jvp: (_t, _y, v, out) => matvec(A, n, v, out), autonomous: true,
      };
      const r = solve(m.name, (_t, y, d) => matvec(A, n, y, d), 0, y0, 1, opts);
      expect(r.status).toBe('ok');
      expect(r.t).toEqual(times);
      times.forEach((t, i) => {
        const exact = expmSymApply(A, n, t, y0);
        expect(relErr2(r.y[i]!, exact), `t = ${t}`).toBeLessThan(1e-9);
      });
    });
  }
});

describe('gradient flow on a quadratic loss L(w) = ½ (w − w*)ᵀ H (w − w*)', () => {
  // dw/dt = −∇L = −H (w − w*), exactly w(t) = w* + exp(−H t)(w0 − w*). H = Q Λ Qᵀ with a
  // Householder Q = I − 2uuᵀ (so products with H are O(p)) and Λ log-spaced in [1e-2, 10].
  const p = 300;
  const rand = lcg(11);
  const u = new Float64Array(p);
  for (let i = 0; i < p; i++) u[i] = rand() - 0.5;
  const nu = norm2(u);
  for (let i = 0; i < p; i++) u[i]! /= nu;
  const lam = new Float64Array(p);
  for (let i = 0; i < p; i++) lam[i] = 1e-2 * Math.pow(1e3, i / (p - 1));
  const reflect = (x: Float64Array, out: Float64Array) => {
    let d = 0;
    for (let i = 0; i < p; i++) d += u[i]! * x[i]!;
    for (let i = 0; i < p; i++) out[i] = x[i]! - 2 * d * u[i]!;
  };
  const tmp = new Float64Array(p);
  const applyH = (x: Float64Array, out: Float64Array, scale: number) => {
    reflect(x, tmp);
    for (let i = 0; i < p; i++) tmp[i]! *= lam[i]!;
    reflect(tmp, out);
    for (let i = 0; i < p; i++) out[i]! *= scale;
  };
  const wStar = new Float64Array(p), w0 = new Float64Array(p);
  for (let i = 0; i < p; i++) { wStar[i] = rand() - 0.5; w0[i] = 2 * (rand() - 0.5); }
  const diff = new Float64Array(p);
  const f = (_t: number, w: Float64Array, dw: Float64Array) => {
    for (let i = 0; i < p; i++) diff[i] = w[i]! - wStar[i]!;
    applyH(diff, dw, -1);
  };
  const jvp = (_t: number, _w: Float64Array, v: Float64Array, out: Float64Array) => applyH(v, out, -1);
  const exact = (t: number) => {
    const d = new Float64Array(p), e = new Float64Array(p), out = new Float64Array(p);
    for (let i = 0; i < p; i++) d[i] = w0[i]! - wStar[i]!;
    reflect(d, e);
    for (let i = 0; i < p; i++) e[i]! *= Math.exp(-lam[i]! * t);
    reflect(e, out);
    for (let i = 0; i < p; i++) out[i]! += wStar[i]!;
    return out;
  };
  const times = [0.1, 1, 10, 100];
  // The exponential methods' stiff part: all of −H, A = −R Λ R with R = I − 2uuᵀ (its columns
  // orthonormal eigenvectors); the split is then exact and N = H w* is constant.
  const R = new Float64Array(p * p);
  for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) R[i * p + j] = (i === j ? 1 : 0) - 2 * u[i]! * u[j]!;
  const lowRank = { linearPart: () => ({ Q: R, lambda: lam, rank: p }), ops: PLAIN_LOW_RANK_OPS };

  for (const m of METHODS) {
    it(`${m.name}: matches the closed form at t = ${times.join(', ')} (p = ${p})`, () => {
      const rtol = 1e-8;
      const r = solve(m.name, f, 0, w0, 100, { rtol, atol: 1e-10, times, jvp, autonomous: true, lowRank });
      expect(r.status).toBe('ok');
      times.forEach((t, i) => expect(relErr2(r.y[i]!, exact(t)), `t = ${t}`).toBeLessThan(100 * rtol));
      if (m.stiff === 'jvp') expect(r.stats.jvpEvals).toBeGreaterThan(0);
      // exact on a linear flow whatever its stiffness: a few steps (the explicit ones need λmax·T/3)
      if (m.stiff === 'lowRank') expect(r.stats.steps).toBeLessThan(100);
    });
  }
});

describe('dense output at requested times (adaptive steps)', () => {
  const P = riccati(20);
  const times = Array.from({ length: 41 }, (_, i) => i * 0.5);
  for (const m of METHODS) {
    for (const rtol of [1e-6, 1e-10]) {
      it(`${m.name}, rtol ${rtol}: values at ${times.length} times match the exact solution`, () => {
        const r = solve(m.name, P.f, P.t0, P.y0, P.T, { rtol, atol: rtol, times, jvp: P.jvp });
        expect(r.status).toBe('ok');
        expect(r.t).toEqual(times);
        // Far fewer steps than output times would need at low accuracy: values are interpolated.
        let worst = 0;
        times.forEach((t, i) => { worst = Math.max(worst, Math.abs(r.y[i]![0]! - P.exact(t)[0]!)); });
        expect(worst).toBeLessThan(20 * rtol);
        expect(r.y[0]![0]).toBe(P.y0[0]);
      });
    }
  }

  it('outputs are copies and the default output is [t0, T]', () => {
    const r = solve('dopri5', P.f, 0, P.y0, 2);
    expect(r.t).toEqual([0, 2]);
    expect(r.y[0]).not.toBe(P.y0);
    expect(r.y[0]![0]).toBe(P.y0[0]);
    expect(Math.abs(r.y[1]![0]! - P.exact(2)[0]!)).toBeLessThan(1e-7);
    expect(r.tFinal).toBe(2);
    expect(r.yFinal[0]).toBe(r.y[1]![0]);
  });
});
