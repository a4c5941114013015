/**
 * The low-rank exponential integrators — ETDRK4 with step doubling (`etd.ts`) and exponential
 * Adams PECE (`etd-adams.ts`), steppers of the one driver (`solve('etdrk4' | 'exponential', …)`)
 * — on the same problems: their order, exactness on stiff linear problems whatever the
 * stiffness, a state-dependent stiff part refreshed during the run, and (Adams) the φ functions
 * and an error estimate that sees how F depends on t.
 */
import { describe, expect, it } from 'vitest';
import { phiScalar, type LowRankOps, type LowRankStiff, type LowRankOptions } from '../../../src/dynamics/solvers/etd.ts';
import { phiAll, phiQuadrature } from '../../../src/dynamics/solvers/etd-adams.ts';
import { solve, type Rhs } from '../../../src/dynamics/solvers/index.ts';
import { lcg, relErr } from '../../helpers.ts';

const ops: LowRankOps = {
  project(Q, n, r, v, out) {
    for (let j = 0; j < r; j++) {
      let s = 0;
      for (let i = 0; i < n; i++) s += Q[i * r + j]! * v[i]!;
      out[j] = s;
    }
  },
  expand(Q, n, r, c, out) {
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let j = 0; j < r; j++) s += Q[i * r + j]! * c[j]!;
      out[i] = s;
    }
  },
};

/** The options these tests give the exponential methods, the stiff part given by `linearPart`. */
interface EtdOptions {
  rtol?: number;
  atol?: number;
  times?: number[];
  maxOrder?: number;
  onStep?: (t: number, y: Float64Array) => unknown;
  linearPart: LowRankOptions['linearPart'];
}

/** An exponential method of the driver, called as the tests call it. */
const via = (method: 'etdrk4' | 'exponential') => (F: Rhs, t0: number, y0: Float64Array, T: number, o: EtdOptions) => {
  const { linearPart, onStep, ...rest } = o;
  return solve(method, F, t0, y0, T, { ...rest, ...(onStep ? { onStep: (t, y) => void onStep(t, y) } : {}), lowRank: { linearPart, ops } });
};
const solveEtd = via('etdrk4'), solveEtdAdams = via('exponential');

/** n×r with orthonormal columns (Gram–Schmidt of seeded random vectors). */
function orthonormal(n: number, r: number, seed: number): Float64Array {
  const rand = lcg(seed);
  const Q = new Float64Array(n * r);
  for (let j = 0; j < r; j++) {
    const v = Float64Array.from({ length: n }, () => rand() - 0.5);
    for (let l = 0; l < j; l++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += v[i]! * Q[i * r + l]!;
      for (let i = 0; i < n; i++) v[i] -= d * Q[i * r + l]!;
    }
    const s = Math.hypot(...v);
    for (let i = 0; i < n; i++) Q[i * r + j] = v[i]! / s;
  }
  return Q;
}

/** y' = A y + g(t), A = −Q diag(λ) Qᵀ, g = c·cos t: exact solution mode by mode. */
function forcedLinear(n: number, lambda: number[], seed: number) {
  const r = lambda.length;
  const Q = orthonormal(n, r, seed);
  const stiff: LowRankStiff = { Q, lambda: Float64Array.from(lambda), rank: r };
  const rand = lcg(seed + 1);
  const c = Float64Array.from({ length: n }, () => rand() - 0.5);
  const y0 = Float64Array.from({ length: n }, () => rand() - 0.5);
  const Ay = (y: Float64Array, out: Float64Array) => {
    const z = new Float64Array(r);
    ops.project(Q, n, r, y, z);
    for (let j = 0; j < r; j++) z[j] *= -lambda[j]!;
    ops.expand(Q, n, r, z, out);
  };
  const F = (t: number, y: Float64Array, out: Float64Array) => {
    Ay(y, out);
    for (let i = 0; i < n; i++) out[i] += c[i]! * Math.cos(t);
  };
  const exact = (t: number) => {
    // y = Q ŷ + (I − QQᵀ) y; each stiff mode ŷ' = −λ ŷ + ĉ cos t, the rest y' = c cos t
    const y0h = new Float64Array(r), ch = new Float64Array(r);
    ops.project(Q, n, r, y0, y0h);
    ops.project(Q, n, r, c, ch);
    const perp0 = new Float64Array(n), cperp = new Float64Array(n), tmp = new Float64Array(n);
    ops.expand(Q, n, r, y0h, tmp);
    for (let i = 0; i < n; i++) perp0[i] = y0[i]! - tmp[i]!;
    ops.expand(Q, n, r, ch, tmp);
    for (let i = 0; i < n; i++) cperp[i] = c[i]! - tmp[i]!;
    const yh = y0h.map((v, j) => {
      const l = lambda[j]!, k = ch[j]! / (l * l + 1);
      return Math.exp(-l * t) * (v - k * l) + k * (l * Math.cos(t) + Math.sin(t));
    });
    ops.expand(Q, n, r, yh, tmp);
    return tmp.map((v, i) => v + perp0[i]! + cperp[i]! * Math.sin(t));
  };
  return { stiff, F, y0, exact };
}

describe.each([
  ['ETDRK4', solveEtd, [-5.5, -3.2]],
  ['exponential Adams', solveEtdAdams, [-7.5, -3.8]],
  // the flows' setting (dynamics/flow.ts: ADAMS_ORDER): predictor 7, corrector 8
  ['exponential Adams up to order 7', ((F, t0, y0, T, o) => solveEtdAdams(F, t0, y0, T, { ...o, maxOrder: 7 })) as typeof solveEtdAdams, [-9.5, -3.8]],
] as const)('the low-rank exponential integrator %s', (_name, solveEtd, orderRange) => {
  it('is exact to the tolerance on a forced linear system however stiff, in few steps', () => {
    for (const lambda of [[5, 0.5], [1e3, 10], [1e8, 1e4]]) {
      const P = forcedLinear(7, lambda, 3);
      const r = solveEtd(P.F, 0, P.y0, 10, { rtol: 1e-9, atol: 1e-12, linearPart: () => P.stiff });
      expect(r.status).toBe('ok');
      expect(relErr(r.y[r.y.length - 1]!, P.exact(10))).toBeLessThan(1e-7);
      // an explicit method would need λmax·T/3 steps; the stiffness costs nothing here
      expect(r.stats.steps).toBeLessThan(400);
    }
  });

  it('converges at order 4 or more on a nonlinear stiff problem', () => {
    // y' = A y − y³ + sin t (elementwise), A = −Q diag(40, 4) Qᵀ
    const n = 5, P = forcedLinear(n, [40, 4], 11);
    const F = (t: number, y: Float64Array, out: Float64Array) => {
      P.F(t, y, out);
      for (let i = 0; i < n; i++) out[i] += Math.sin(t) - y[i]! ** 3;
    };
    const ref = solve('dop853', F, 0, P.y0, 3, { rtol: 1e-13, atol: 1e-15 }).yFinal;
    const pts: [number, number][] = [];
    for (const tol of [1e-5, 1e-6, 1e-7, 1e-8]) {
      const r = solveEtd(F, 0, P.y0, 3, { rtol: tol, atol: tol * 1e-2, linearPart: () => P.stiff });
      pts.push([Math.log(r.stats.steps), Math.log(relErr(r.yFinal, ref))]);
    }
    const slope = (pts[3]![1] - pts[0]![1]) / (pts[3]![0] - pts[0]![0]);
    expect(slope).toBeLessThan(orderRange[1]);
    expect(slope).toBeGreaterThan(orderRange[0]);
  });

  it('stays correct when the stiff part is replaced during the run (a state-dependent Jacobian)', () => {
    // y' = −μ(y) QQᵀ y + cos t·c with μ(y) = 200(1 + ‖y‖²): refresh A = −μ(y_n) QQᵀ every 2 steps
    const n = 6, r = 2, Q = orthonormal(n, r, 5);
    const c = Float64Array.from({ length: n }, (_, i) => Math.sin(i + 1));
    const mu = (y: Float64Array) => 200 * (1 + y.reduce((s, v) => s + v * v, 0));
    const F = (t: number, y: Float64Array, out: Float64Array) => {
      const z = new Float64Array(r);
      ops.project(Q, n, r, y, z);
      const m = mu(y);
      for (let j = 0; j < r; j++) z[j] *= -m;
      ops.expand(Q, n, r, z, out);
      for (let i = 0; i < n; i++) out[i] += c[i]! * Math.cos(t);
    };
    const y0 = Float64Array.from({ length: n }, (_, i) => 0.3 * Math.cos(i));
    const ref = solve('rosenbrock', F, 0, y0, 2, {
      rtol: 1e-11, atol: 1e-13,
      jvp: (t, y, v, out) => {
        const e = 1e-7, yp = y.map((x, i) => x + e * v[i]!), ym = y.map((x, i) => x - e * v[i]!);
        const fp = new Float64Array(n), fm = new Float64Array(n);
        F(t, yp, fp);
        F(t, ym, fm);
        for (let i = 0; i < n; i++) out[i] = (fp[i]! - fm[i]!) / (2 * e);
      },
    }).yFinal;
    let refreshes = 0, current: LowRankStiff | null = null;
    const r1 = solveEtd(F, 0, y0, 2, {
      rtol: 1e-9, atol: 1e-12,
      linearPart: (_t, y, since) => {
        if (current && since < 2) return current;
        refreshes++;
        return (current = { Q, rank: r, lambda: Float64Array.of(mu(y), mu(y)) });
      },
    });
    expect(refreshes).toBeGreaterThan(3);
    expect(relErr(r1.yFinal, ref)).toBeLessThan(1e-6);
  });
});

describe('exponential Adams: its parts', () => {
  it('φ_0..φ_8 to a few ulp across the branches (series, Gauss–Legendre, recurrence)', () => {
    const out = new Float64Array(8), out9 = new Float64Array(9);
    /** φ_k(z) by its Taylor series Σ z^j/(j+k)!, accurate for |z| ≤ 1. */
    const series = (k: number, z: number) => {
      let term = 1;
      for (let i = 2; i <= k; i++) term /= i;
      let sum = term;
      for (let j = 1; j < 60; j++) sum += (term *= z / (j + k));
      return sum;
    };
    for (const z of [0, -1e-12, -1e-5, -0.3, -1]) {
      phiAll(z, 7, out);
      for (let k = 0; k <= 7; k++) expect(Math.abs(out[k]! - series(k, z)) / series(k, z)).toBeLessThan(4e-15);
    }
    // everywhere: the closed forms of k ≤ 3 (etd.ts); on the quadrature branch (z > −16) the
    // recurrence φ_k = z·φ_{k+1} + 1/k!, each term good to a few ulp of its size; on the
    // recurrence branch the quadrature, still accurate there
    const quad = new Float64Array(9);
    for (const z of [-2, -7.5, -15.99, -16, -20, -30, -100, -1e6]) {
      phiAll(z, 8, out9);
      for (let k = 0; k <= 3; k++) expect(Math.abs(out9[k]! - phiScalar(k as 0 | 1 | 2 | 3, z))).toBeLessThanOrEqual(1e-14 * out9[k]!);
      if (z > -16) {
        let fact = 1;
        for (let k = 0; k < 8; k++, fact *= k) expect(Math.abs(z * out9[k + 1]! + 1 / fact - out9[k]!)).toBeLessThan(4e-15 * (1 / fact + Math.abs(z * out9[k + 1]!)));
      } else if (z >= -20) {
        phiQuadrature(z, 8, quad);
        for (let k = 0; k <= 8; k++) expect(Math.abs(out9[k]! - quad[k]!) / quad[k]!).toBeLessThan(8e-15);
      }
    }
  });

  it('meets the tolerance when F depends on t alone (an estimate blind to t would accept anything)', () => {
    // y' = A y + g(t) with A = 0 on the only mode that moves: y = ∫ g; g = cos(10t) oscillates
    const n = 3, Q = orthonormal(n, 1, 2);
    const stiff: LowRankStiff = { Q, lambda: Float64Array.of(0), rank: 1 };
    const F = (t: number, _y: Float64Array, out: Float64Array) => out.fill(Math.cos(10 * t));
    for (const rtol of [1e-6, 1e-9]) {
      const r = solveEtdAdams(F, 0, new Float64Array(n), 5, { rtol, atol: rtol, linearPart: () => stiff });
      const exact = Math.sin(50) / 10;
      expect(Math.abs(r.yFinal[0]! - exact)).toBeLessThan(50 * rtol);
      expect(r.stats.steps).toBeGreaterThan(20);
    }
  });

  it('takes about two evaluations of F per step', () => {
    const P = forcedLinear(7, [1e3, 10], 3);
    const r = solveEtdAdams(P.F, 0, P.y0, 10, { rtol: 1e-9, atol: 1e-12, linearPart: () => P.stiff });
    expect(r.stats.rhsEvals).toBeLessThanOrEqual(2 * (r.stats.steps + r.stats.rejected) + 1);
  });
});

describe('the step size handed to linearPart (what the flow chooses its stiff modes by)', () => {
  it.each([
    ['ETDRK4', solveEtd],
    ['exponential Adams', solveEtdAdams],
  ] as const)('%s asks with the size of the step it then takes, never a smaller one than it takes', (_name, solver) => {
    const P = forcedLinear(5, [200, 3], 4);
    const asked: { t: number; h: number }[] = [];
    const taken: { t: number; h: number }[] = [];
    let last = 0;
    solver(P.F, 0, P.y0, 10, {
      rtol: 1e-7, atol: 1e-10, times: [2.5, 7],
      linearPart: (t, _y, _since, h) => (asked.push({ t, h }), P.stiff),
      onStep: (t) => (taken.push({ t: last, h: t - last }), (last = t)),
    });
    expect(asked.length).toBe(taken.length); // at t0 and after every accepted step but the last
    // each accepted step starts where linearPart was last asked, and is no longer than asked
    // (shorter after a rejection, or to land on an output time)
    let equal = 0;
    taken.forEach((s, i) => {
      expect(asked[i]!.t).toBe(s.t);
      expect(s.h).toBeLessThanOrEqual(asked[i]!.h * (1 + 1e-12));
      if (Math.abs(s.h - asked[i]!.h) <= 1e-12 * s.h) equal++;
    });
    expect(equal).toBeGreaterThan(taken.length / 2);
  });

  it('exponential Adams integrates a mode left out of Q stably up to h·λ ≈ 0.5 (the flow leaves modes out below 0.1)', () => {
    // y' = −λ(y − cos t) − sin t, y = cos t + e^{−λt}(y0 − 1), with no Q: the mode is explicit.
    // Accuracy alone would take steps of order 1; stability holds h·λ where the method's real
    // stability interval ends, whatever λ and the tolerance.
    const none: LowRankStiff = { Q: new Float64Array(0), lambda: new Float64Array(0), rank: 0 };
    for (const lambda of [10, 100]) for (const rtol of [1e-4, 1e-7]) {
      const hs: number[] = [];
      let last = 0;
      const r = solveEtdAdams((t, y, dy) => (dy[0] = -lambda * (y[0]! - Math.cos(t)) - Math.sin(t)), 0, Float64Array.of(2), 60, {
        rtol, atol: 1e-12, maxOrder: 7, linearPart: () => none,
        onStep: (t) => (hs.push(t - last), (last = t)),
      });
      expect(r.status).toBe('ok');
      expect(Math.abs(r.yFinal[0]! - Math.cos(60))).toBeLessThan(100 * rtol); // stable, not blown up
      const tail = hs.slice(hs.length / 2);
      const meanHl = (tail.reduce((a, b) => a + b, 0) / tail.length) * lambda;
      expect(meanHl).toBeGreaterThan(0.4);
      expect(meanHl).toBeLessThan(0.8);
    }
  });
});
