/** Width scaling: exact slopes on a model whose kernels are powers of the width. */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/ir/load.ts';
import { slopeFit, theorySlope, widthScaling } from '../../src/nth/scaling.ts';

// h = Σ w_i² / (2√m) at w = 1: K2 = 1, K3 = 2/√m, K4 = 4/m (each a further derivative along ∇h).
const toy = (m: number, seed: number) =>
  compile(`dim m = ${m}\nparam w : [m] ~ uniform(1, 1)\nmodel h = sum(w^2) / (2 * sqrt(m))\nloss square(target = 1)`, 'toy.ntk', { seed });

describe('width scaling', () => {
  it('fitLogLog recovers an exact power law with zero standard error, and a noisy one within its error', () => {
    const f = slopeFit([1, 2, 4, 8], [3, 1.5, 0.75, 0.375], 'K4')!;
    expect(f.points).toBe(4);
    expect(f.expected).toBe(-1);
    expect(f.slope).toBeCloseTo(-1, 14);
    expect(f.intercept).toBeCloseTo(Math.log(3), 14);
    expect(f.stderr!).toBeLessThan(1e-14);
    const g = slopeFit([1, 2, 4, 8], [1, 2.2, 3.9, 8.4], 'x')!;
    expect(g.expected).toBeNull();
    expect(Math.abs(g.slope - 1)).toBeLessThan(3 * g.stderr!);
    expect(g.stderr!).toBeGreaterThan(0);
  });

  it("the theory's slopes (Theorem 2.3, Corollary 2.4) and no fit from a single width", () => {
    expect([2, 3, 4, 5, 6].map((r) => theorySlope(`K${r}`))).toEqual([0, -1, -1, -2, -2]);
    expect(theorySlope('dK2')).toBe(-1);
    expect(theorySlope('ntk')).toBeNull();
    expect(slopeFit([8, 8, 8], [1, 2, 3], 'K2')).toBeNull();
    const res = widthScaling({ load: toy, widths: [16], orders: [2], seeds: [0, 1] });
    expect(res.fits).toEqual([]);
  });

  it('slopes 0, −1/2, −1 for K2, K3, K4 of the toy, and the values themselves', () => {
    const res = widthScaling({ load: toy, widths: [4, 16, 64], orders: [2, 3, 4], seeds: [0, 1] });
    const slope = (q: string) => res.fits.find((f) => f.quantity === q)!.slope;
    expect(slope('K2')).toBeCloseTo(0, 12);
    expect(slope('K3')).toBeCloseTo(-0.5, 12);
    expect(slope('K4')).toBeCloseTo(-1, 12);
    for (const p of res.points) {
      const want = p.quantity === 'K2' ? 1 : p.quantity === 'K3' ? 2 / Math.sqrt(p.width) : 4 / p.width;
      expect(Math.abs(p.value - want)).toBeLessThan(1e-13);
    }
    expect(res.points.length).toBe(3 * 2 * 3);
  });

  it('the NTK change along the flow: K2(T) − K2(0) of the toy in closed form', () => {
    // h(w) = ‖w‖²/(2√m), w(0) = 1: dw/dt = −(h − 1)·w/√m keeps w = c(t)·1, and K2 = c²; with
    // u = c², du/dt = −2u(u·√m/2 − 1)/√m … integrate the 1-D ODE numerically as the reference.
    const m = 16;
    const res = widthScaling({ load: toy, widths: [m], orders: [2], seeds: [0], T: 0.5 });
    let c = 1;
    const steps = 20000, dt = 0.5 / steps;
    const rhs = (x: number) => -((x * x * m) / (2 * Math.sqrt(m)) - 1) * x / Math.sqrt(m);
    for (let i = 0; i < steps; i++) {
      const k1 = rhs(c), k2 = rhs(c + (dt / 2) * k1), k3 = rhs(c + (dt / 2) * k2), k4 = rhs(c + dt * k3);
      c += (dt / 6) * (k1 + 2 * k2 + 2 * k3 + k4);
    }
    const dK = res.points.find((p) => p.quantity === 'dK2')!.value;
    expect(Math.abs(dK - Math.abs(c * c - 1)) / Math.abs(c * c - 1)).toBeLessThan(1e-8);
  });
});
