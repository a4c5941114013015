import { describe, it, expect } from 'vitest';
import {
  DOP853, DOPRI5, Gmres, RODAS4, finiteDifferenceJvp, iController, piController, solve,
  type ExplicitTableau,
} from '../../../src/dynamics/solvers/index.ts';
import { lincomb, sparse } from '../../../src/dynamics/solvers/kernels.ts';
import { lcg, randomArray } from '../../helpers.ts';
import { norm2, stiffScalar } from './problems.ts';

/** The full node vector and matrix of an explicit tableau: main stages, k_s (c = 1, row b), extra stages. */
function fullTableau(tab: ExplicitTableau): { c: number[]; A: number[][] } {
  return {
    c: [...tab.c, 1, ...tab.dense.extraC],
    A: [...tab.a.map((r) => [...r]), [...tab.b], ...tab.dense.extraA.map((r) => [...r])],
  };
}

/** The weights b_j(θ) of the dense output u(θ) = y + h Σ b_j(θ) k_j in Hairer's F-form. */
function denseWeights(tab: ExplicitTableau, theta: number): number[] {
  const s = tab.c.length, N = s + 1 + tab.dense.extraC.length;
  const F0 = Array.from({ length: N }, (_, j) => (j < s ? tab.b[j]! : 0));
  const F1 = F0.map((x, j) => (j === 0 ? 1 : 0) - x);
  const F2 = F0.map((x, j) => 2 * x - (j === 0 || j === s ? 1 : 0));
  const F = [F0, F1, F2, ...tab.dense.d.map((r) => Array.from({ length: N }, (_, j) => r[j] ?? 0))];
  return Array.from({ length: N }, (_, j) => {
    let v = F[F.length - 1]![j]!;
    for (let r = F.length - 2; r >= 0; r--) v = F[r]![j]! + ((r & 1) === 0 ? 1 - theta : theta) * v;
    return theta * v;
  });
}

describe('explicit tableaus (coefficient checks)', () => {
  for (const tab of [DOPRI5, DOP853]) {
    it(`${tab.name}: row sums equal c, quadrature conditions to order ${tab.order}, error weights sum to 0`, () => {
      const { c, A } = fullTableau(tab);
      A.forEach((row, i) => expect(Math.abs(row.reduce((a, b) => a + b, 0) - c[i]!), `row ${i}`).toBeLessThan(1e-14));
      for (let k = 1; k <= tab.order; k++) {
        const q = tab.b.reduce((acc, bj, j) => acc + bj * c[j]! ** (k - 1), 0);
        expect(Math.abs(q - 1 / k), `Σ b c^${k - 1}`).toBeLessThan(1e-14);
      }
      expect(Math.abs(tab.e.reduce((a, b) => a + b, 0))).toBeLessThan(1e-14);
      if (tab.e3) expect(Math.abs(tab.e3.reduce((a, b) => a + b, 0))).toBeLessThan(1e-14);
    });

    it(`${tab.name}: the dense weights b_j(θ) satisfy the order conditions of order ${tab.denseOrder} in quadrature form`, () => {
      const { c, A } = fullTableau(tab);
      for (const theta of [0.1, 0.3, 0.5, 0.77, 0.95]) {
        const bt = denseWeights(tab, theta);
        for (let k = 1; k <= tab.denseOrder; k++) {
          const q = bt.reduce((acc, bj, j) => acc + bj * c[j]! ** (k - 1), 0);
          expect(Math.abs(q - theta ** k / k), `θ = ${theta}, k = ${k}`).toBeLessThan(1e-13);
        }
        // The tree Σ b_j(θ) a_jk c_k = θ³/6 involves the extra stages' rows too.
        const t3 = bt.reduce((acc, bj, j) => acc + bj * (A[j] ?? []).reduce((s, a, m) => s + a * c[m]!, 0), 0);
        expect(Math.abs(t3 - theta ** 3 / 6)).toBeLessThan(1e-13);
      }
      // Interpolation at the ends: u(1) = y_new.
      denseWeights(tab, 1).forEach((w, j) => expect(w).toBeCloseTo(j < tab.b.length ? tab.b[j]! : 0, 13));
    });
  }

  it('RODAS4: stiffly accurate (y_new is the last stage argument plus k_6) with m = a_5· + (1, 1)', () => {
    expect(RODAS4.m.slice(0, 4)).toEqual(RODAS4.a[5]!.slice(0, 4));
    expect(RODAS4.a[5]![4]).toBe(1);
    expect(RODAS4.m.slice(4)).toEqual([1, 1]);
    expect(RODAS4.e).toEqual([0, 0, 0, 0, 0, 1]);
  });
});

describe('step-size controllers', () => {
  it('I controller: safety · err^(−1/q), clamped, no growth right after a rejection', () => {
    const c = iController({ safety: 0.9, facMin: 0.2, facMax: 10 });
    c.reset(5);
    expect(c.accepted(0.5)).toBeCloseTo(0.9 * 0.5 ** -0.2, 14);
    expect(c.accepted(0)).toBe(10);
    expect(c.accepted(1e-30)).toBe(10);
    expect(c.rejected(2)).toBeCloseTo(0.9 * 2 ** -0.2, 14);
    expect(c.accepted(1e-6)).toBe(1);
    expect(c.rejected(1e10)).toBe(0.2);
    expect(c.rejected(Infinity)).toBe(0.2);
    expect(c.rejected(NaN)).toBe(0.2);
  });

  it('PI controller: safety · err^(−α) · err_prev^β with Hairer’s α = 1/q − 0.75β, β = 0.04', () => {
    const c = piController();
    c.reset(5);
    const alpha = 0.2 - 0.75 * 0.04, beta = 0.04;
    expect(c.accepted(0.5)).toBeCloseTo(0.9 * 0.5 ** -alpha, 14); // err_prev = 1 initially
    expect(c.accepted(0.25)).toBeCloseTo(0.9 * 0.25 ** -alpha * 0.5 ** beta, 14);
    expect(c.accepted(1e-9)).toBeCloseTo(Math.min(10, 0.9 * 1e-9 ** -alpha * 0.25 ** beta), 12);
    expect(c.rejected(3)).toBeCloseTo(0.9 * 3 ** -0.2, 14);
    expect(c.accepted(0.01)).toBeLessThanOrEqual(1);
    expect(() => piController({ alpha: 0.01, beta: 0.04 }).reset(5)).toThrow(RangeError);
    expect(() => iController({ facMax: 0.5 })).toThrow(RangeError);
  });

  it('a custom controller is used by the driver; the I controller also solves to tolerance', () => {
    const P = stiffScalar(1, 5);
    let calls = 0;
    const base = iController();
    const spy = { ...base, accepted: (e: number) => { calls++; return base.accepted(e); } };
    const r = solve('dopri5', P.f, 0, P.y0, P.T, { controller: spy, rtol: 1e-9, atol: 1e-12 });
    expect(calls).toBe(r.stats.steps - 1);
    expect(Math.abs(r.y[1]![0]! - P.exact(P.T)[0]!)).toBeLessThan(1e-8);
    for (const name of ['I', 'PI'] as const) {
      const q = solve('dop853', P.f, 0, P.y0, P.T, { controller: name, rtol: 1e-9, atol: 1e-12 });
      expect(Math.abs(q.y[1]![0]! - P.exact(P.T)[0]!)).toBeLessThan(1e-8);
    }
  });
});

describe('restarted GMRES', () => {
  const rand = lcg(5);
  const n = 60;
  // A = I + 0.5·(G − Gᵀ)/√n + diag(0..3): nonsymmetric, well conditioned.
  const G = randomArray(rand, n * n);
  const A = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) {
    A[i * n + j] = (i === j ? 1 + 3 * i / n : 0) + 0.5 * (G[i * n + j]! - G[j * n + i]!) / Math.sqrt(n);
  }
  const op = (v: Float64Array, out: Float64Array) => {
    for (let i = 0; i < n; i++) { let s = 0; for (let j = 0; j < n; j++) s += A[i * n + j]! * v[j]!; out[i] = s; }
  };
  const b = randomArray(rand, n);
  const residual = (x: Float64Array) => { const r = new Float64Array(n); op(x, r); for (let i = 0; i < n; i++) r[i] = b[i]! - r[i]!; return norm2(r); };

  for (const restart of [n, 10, 3]) {
    it(`solves a nonsymmetric ${n}×${n} system with restart ${restart}`, () => {
      const g = new Gmres(n, restart), x = new Float64Array(n);
      expect(g.solve(op, b, x, 1e-10 * norm2(b), 2000)).toBe(true);
      expect(residual(x)).toBeLessThan(2e-10 * norm2(b));
      expect(Math.abs(g.residual - residual(x)) / norm2(b)).toBeLessThan(1e-9);
    });
  }

  it('reports failure when the product budget is too small, and solves b = 0 for free', () => {
    const g = new Gmres(n, 5), x = new Float64Array(n);
    expect(g.solve(op, b, x, 1e-14, 4)).toBe(false);
    expect(g.products).toBe(4);
    expect(g.residual).toBeGreaterThan(1e-14);
    expect(g.solve(op, new Float64Array(n), x, 1e-14, 4)).toBe(true);
    expect(g.products).toBe(0);
    expect(Array.from(x).every((v) => v === 0)).toBe(true);
  });
});

describe('kernels and helpers', () => {
  it('lincomb fuses up to four stages per pass and matches the naive sum', () => {
    const rand = lcg(3), n = 17;
    const K = Array.from({ length: 9 }, () => randomArray(rand, n));
    const base = randomArray(rand, n);
    const coefs = [0.5, 0, -1.25, 3, 0, 0.125, 2, -0.75, 1.5];
    for (const withBase of [true, false]) {
      const out = new Float64Array(n);
      lincomb(out, withBase ? base : null, 0.3, sparse(coefs), K);
      for (let i = 0; i < n; i++) {
        let want = withBase ? base[i]! : 0;
        coefs.forEach((c, j) => { want += 0.3 * c * K[j]![i]!; });
        expect(out[i]).toBeCloseTo(want, 13);
      }
    }
    const out = new Float64Array(n);
    lincomb(out, base, 1, sparse([0, 0]), K);
    expect(Array.from(out)).toEqual(Array.from(base));
  });

  it('finiteDifferenceJvp approximates the Jacobian product and drives the stiff method', () => {
    const P = stiffScalar(1000, 2);
    const jvp = finiteDifferenceJvp(P.f, 1), out = new Float64Array(1);
    jvp(0.3, Float64Array.of(0.7), Float64Array.of(2), out);
    expect(out[0]).toBeCloseTo(-2000, 4);
    const r = solve('rosenbrock', P.f, 0, P.y0, P.T, { jvp, rtol: 1e-6, atol: 1e-8 });
    expect(r.status).toBe('ok');
    expect(Math.abs(r.y[1]![0]! - P.exact(P.T)[0]!)).toBeLessThan(1e-5);
  });

  it('atol = 0 (pure relative control) copes with components that stay exactly 0', () => {
    const f = (_t: number, y: Float64Array, d: Float64Array) => { d[0] = -y[0]!; d[1] = 0; };
    for (const m of ['dopri5', 'dop853', 'rosenbrock'] as const) {
      const r = solve(m, f, 0, Float64Array.of(1, 0), 1, {
        atol: 0, rtol: 1e-8, jvp: (_t, _y, v, out) => { out[0] = -v[0]!; out[1] = 0; },
      });
      expect(r.status, m).toBe('ok');
      expect(Math.abs(r.y[1]![0]! - Math.exp(-1))).toBeLessThan(1e-7);
      expect(r.y[1]![1]).toBe(0);
    }
  });

  it('an autonomous flag or an exact ∂f/∂t saves RHS calls without changing the solution', () => {
    const P = stiffScalar(50, 3);
    const fd = solve('rosenbrock', P.f, 0, P.y0, P.T, { jvp: P.jvp, rtol: 1e-7, atol: 1e-9 });
    const ex = solve('rosenbrock', P.f, 0, P.y0, P.T, {
      jvp: P.jvp, rtol: 1e-7, atol: 1e-9, dfdt: (t, _y, out) => { out[0] = -50 * Math.sin(t); },
    });
    expect(ex.stats.rhsEvals).toBeLessThan(fd.stats.rhsEvals);
    expect(Math.abs(ex.y[1]![0]! - fd.y[1]![0]!)).toBeLessThan(1e-8);
    expect(Math.abs(ex.y[1]![0]! - P.exact(P.T)[0]!)).toBeLessThan(1e-6);
  });
});
