/**
 * Comparisons of a computed value with a bound that is equal by construction (issue 21, item 5)
 * use a stated relative tolerance (HORIZON_RTOL = 1e-12): the default ball's radius makes the
 * Theorem 1.2 horizon α²ρ²/R0 equal T, and Proposition 3.1's radius is what the trajectory may
 * approach. Rounding never flips a verdict; a real excess (1e-9 relative) still does.
 */
import { describe, expect, it } from 'vitest';
import { loadModel, loss } from '../../src/index.ts';
import { flow } from '../../src/dynamics/flow.ts';
import { HORIZON_RTOL, withinBall, withinHorizon } from '../../src/dynamics/bounds.ts';

describe('equal-by-construction comparisons', () => {
  it('withinHorizon and withinBall: within 1e-12 relative counts, 1e-9 does not', () => {
    expect(HORIZON_RTOL).toBe(1e-12);
    expect(withinHorizon(5, 4.999999999999999)).toBe(true);
    expect(withinHorizon(5, 5 * (1 - 1e-9))).toBe(false);
    expect(withinBall(0.1 * (1 + 1e-15), 0.1)).toBe(true);
    expect(withinBall(0.1 * (1 + 1e-9), 0.1)).toBe(false);
  });
  it('the default ball (ρ = √(T·R0)/α) gives no horizon warning from rounding, (the horizon of Theorem 1.2; that of Prop. 1.1 depends on Lip(h))', () => {
    const m = loadModel('examples/meanfield.ntk');
    for (const [alpha, T] of [[1, 5], [3, 7], [0.7, 11]] as const) {
      const radius = Math.sqrt(T * loss(m, { alpha })) / alpha;
      const r = flow(m, { alpha, T, radius, lipDh: 1, lipH: 1, accuracy: false });
      expect(r.theory.theorem12.valid).toBe(true);
      expect(r.warnings.join(' ')).not.toMatch(/beyond the horizon α²ρ²\/R0/);
    }
  });
  it('stayedInBall: a radius equal to the largest ‖w(t) − w0‖ up to rounding holds it; 1e-9 less does not', () => {
    const m = loadModel('examples/converse.ntk');
    const r = flow(m, { alpha: 10, T: 100, accuracy: false });
    const d = r.maxWeightChange;
    expect(flow(m, { alpha: 10, T: 100, radius: d * (1 - 2e-16), accuracy: false }).stayedInBall).toBe(true);
    expect(flow(m, { alpha: 10, T: 100, radius: d * (1 - 1e-9), accuracy: false }).stayedInBall).toBe(false);
  });
});
