import { describe, it, expect } from 'vitest';
import { METHODS, solve } from '../../../src/dynamics/solvers/index.ts';
import { ORDER_TEST } from './methods.ts';
import { fitSlope, kepler, maxAbsDiff, riccati } from './problems.ts';

// Fixed steps h = T/N; the fitted slope of log(error) against log(h) is the empirical order.
describe('empirical convergence order (fixed steps), every method of the one driver', () => {
  for (const m of METHODS) {
    const P = riccati(20);
    const { steps: Ns, options = {} } = ORDER_TEST[m.name];

    it(`${m.name}: global error at T has slope ≈ ${m.order} (y' = −y² + g(t), nonlinear, non-autonomous)`, () => {
      const hs: number[] = [], errs: number[] = [];
      for (const N of Ns) {
        const h = (P.T - P.t0) / N;
        const r = solve(m.name, P.f, P.t0, P.y0, P.T, { ...options, fixedStep: h, jvp: P.jvp, rtol: 1e-14, atol: 1e-14 });
        expect(r.status).toBe('ok');
        expect(r.stats.steps).toBe(N);
        hs.push(h);
        errs.push(maxAbsDiff(r.y[1]!, P.exact(P.T)));
      }
      // the row's step counts are where its table says: errors falling with h, above roundoff
      // and below the pre-asymptotic regime
      for (let i = 1; i < errs.length; i++) expect(errs[i]!, `errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeLessThan(errs[i - 1]!);
      expect(errs[errs.length - 1]!).toBeGreaterThan(1e-13);
      expect(errs[0]!).toBeLessThan(1e-3);
      const slope = fitSlope(hs, errs);
      expect(slope, `errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeGreaterThan(m.order - 0.3);
      expect(slope).toBeLessThan(m.order + 0.3);
    });

    if (m.denseOrder !== null) {
      // Dense output of order q has local error O(h^(q+1)); on top of the global error O(h^p)
      // the values between steps converge like h^min(p, q+1).
      const denseSlope = Math.min(m.order, m.denseOrder + 1);
      it(`${m.name}: dense output between steps has slope ≈ ${denseSlope}`, () => {
        // Values between steps carry larger constants: 2× finer steps reach the asymptotic regime.
        const hs: number[] = [], errs: number[] = [];
        for (const N of Ns.map((k) => 2 * k)) {
          const h = (P.T - P.t0) / N;
          const times = [0.37 * h, (Math.floor(N / 3) + 0.5) * h, (N - 1 + 0.81) * h];
          const r = solve(m.name, P.f, P.t0, P.y0, P.T, { ...options, fixedStep: h, jvp: P.jvp, rtol: 1e-14, atol: 1e-14, times });
          hs.push(h);
          errs.push(Math.max(...times.map((t, i) => maxAbsDiff(r.y[i]!, P.exact(t)))));
        }
        const slope = fitSlope(hs, errs);
        expect(slope, `errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeGreaterThan(denseSlope - 0.3);
        expect(slope).toBeLessThan(denseSlope + 0.35);
      });
    } else {
      it(`${m.name}: no dense output — its steps end on the output times, where the values keep order ${m.order}`, () => {
        const hs: number[] = [], errs: number[] = [];
        for (const N of Ns) {
          const h = (P.T - P.t0) / N;
          const times = [(Math.floor(N / 3) + 0.5) * h, P.T];
          const seen: number[] = [];
          const r = solve(m.name, P.f, P.t0, P.y0, P.T, { ...options, fixedStep: h, rtol: 1e-14, atol: 1e-14, times, onStep: (t) => void seen.push(t) });
          expect(r.t).toEqual(times);
          expect(seen).toContain(times[0]); // a step ends exactly there
          expect(r.stats.steps).toBe(N + 1); // the step across it is split in two
          hs.push(h);
          errs.push(Math.max(...times.map((t, i) => maxAbsDiff(r.y[i]!, P.exact(t)))));
        }
        const slope = fitSlope(hs, errs);
        expect(slope, `errors ${errs.map((e) => e.toExponential(2)).join(', ')}`).toBeGreaterThan(m.order - 0.35);
      });
    }
  }

  // (DOP853's error constant on Kepler is so small that its asymptotic regime meets roundoff,
  // and RODAS4 superconverges there (slope ≈ 5): the Riccati problem above is the order test.)
  it('dopri5 reaches order 5 on the Kepler problem too (autonomous, 4-dimensional)', () => {
    const P = kepler(0.5, 2 * Math.PI);
    const hs = [100, 141, 200, 283, 400].map((N) => P.T / N);
    const errs = hs.map((h) => maxAbsDiff(solve('dopri5', P.f, 0, P.y0, P.T, { fixedStep: h }).y[1]!, P.exact(P.T)));
    expect(Math.abs(fitSlope(hs, errs) - 5)).toBeLessThan(0.3);
  });
});
