import { describe, it, expect } from 'vitest';
import { METHODS, solve } from '../../../src/dynamics/solvers/index.ts';
import { stiffScalar } from './problems.ts';
import { scalarStiffPart } from './methods.ts';

// y' = −1000 (y − cos t): after the initial layer the solution is smooth, but explicit methods
// are held at h ≈ (stability boundary)/1000. (At rtol ≲ 1e-6 their steps are set by accuracy
// instead, at h·λ ≈ 2.7 for DOPRI5, below the boundary, and Hairer's test rightly stays silent.)
describe("stiffness: y' = −1000 (y − cos t) on [0, 10]", () => {
  const P = stiffScalar(1000, 10);
  const rtol = 1e-4, atol = 1e-6;
  const exactT = P.exact(P.T)[0]!;

  const explicit = METHODS.filter((m) => !m.stiff);
  for (const m of explicit) {
    it(`${m.name} reports the stiffness with h·ρ above its threshold and ρ ≈ 1000, and keeps going`, () => {
      const r = solve(m.name, P.f, 0, P.y0, P.T, { rtol, atol });
      expect(r.status).toBe('ok');
      expect(r.stiffness.detected).toBe(true);
      expect(r.stiffness.atTime).toBeGreaterThan(0);
      expect(r.stiffness.atTime).toBeLessThan(1);
      // ρ is the exact |λ| here (f is linear in y), so estimate = 1000·h of that step.
      expect(r.stiffness.lambdaMax!).toBeCloseTo(1000, 6);
      const threshold = m.name === 'dopri5' ? 3.25 : 6.1;
      expect(r.stiffness.estimate!).toBeGreaterThan(threshold);
      expect(r.stiffness.estimate!).toBeLessThan(2 * threshold);
      expect(Math.abs(r.y[1]![0]! - exactT)).toBeLessThan(10 * rtol);
    });
  }

  it('detection can be turned off', () => {
    const r = solve('dopri5', P.f, 0, P.y0, P.T, { rtol, atol, detectStiffness: false });
    expect(r.stiffness).toEqual({ detected: false, estimate: null, atTime: null, lambdaMax: null });
  });

  it('a non-stiff problem is not flagged', () => {
    const Q = stiffScalar(1, 10);
    for (const m of explicit) expect(solve(m.name, Q.f, 0, Q.y0, Q.T, { rtol, atol }).stiffness.detected).toBe(false);
  });

  for (const m of METHODS.filter((x) => x.stiff)) {
    for (const tol of [1e-4, 1e-5]) {
      it(`${m.name} needs < 1/10 of dopri5's steps at the same accuracy (rtol ${tol})`, () => {
        const o = { rtol: tol, atol: tol / 100 };
        const ref = solve('dopri5', P.f, 0, P.y0, P.T, o);
        const errRef = Math.abs(ref.y[1]![0]! - exactT);
        // each stiff method with the structure it uses (∂f/∂y products, or the stiff part −1000),
        // at the same tolerance, or 10× tighter where that is what reaches dopri5's accuracy
        // (ETDRK4 at 1e-5: 3.0e-6 against dopri5's 8e-7, both within the tolerance)
        const run = (t: number) => solve(m.name, P.f, 0, P.y0, P.T, { rtol: t, atol: t / 100, jvp: P.jvp, lowRank: scalarStiffPart(1000) });
        const errOf = (x: ReturnType<typeof run>) => Math.abs(x.y[1]![0]! - exactT);
        let r = run(tol);
        expect(errOf(r)).toBeLessThan(10 * tol);
        if (errOf(r) >= 3 * errRef) r = run(tol / 10);
        expect(r.status).toBe('ok');
        expect(r.stiffness.detected).toBe(false);
        expect(errOf(r)).toBeLessThan(3 * errRef);
        expect(r.stats.steps + r.stats.rejected).toBeLessThan((ref.stats.steps + ref.stats.rejected) / 10);
      });
    }

    it(`${m.name} is L-stable: one step h·λ = −1e8 damps the solution`, () => {
      const Q = stiffScalar(1e8, 1);
      const r = solve(m.name, (_t, y, d) => { d[0] = -1e8 * y[0]!; }, 0, Float64Array.of(1), 1,
        { fixedStep: 1, jvp: Q.jvp, autonomous: true, lowRank: scalarStiffPart(1e8) });
      expect(Math.abs(r.y[1]![0]!)).toBeLessThan(1e-6);
    });
  }
});
