/**
 * The flow against closed forms: Theorem 1.3's model h(w) = a·w + b·w²/2 has an exact solution,
 * and the linearized flow of any model is exp(−K0 t) r0.
 *
 * With u = a + b·w and s = u², the flow dw/dt = (1/α)(a + bw)(y* − α h(w)) becomes the logistic
 * equation ds/dt = s (C − s), C = a² + 2b·y* / α, s(0) = a², so that
 *   α h(w(T)) = y* a² (1 − e^{−CT}) / (a² + (2b·y* / α)·e^{−CT}),   α h̄(w̄(T)) = y* (1 − e^{−a²T}).
 */
import { describe, expect, it } from 'vitest';
import { compile } from '../../src/index.ts';
import { flow } from '../../src/dynamics/flow.ts';
import { boundsReport } from '../../src/dynamics/bounds.ts';

function exactError(T: number, alpha: number, b: number, R0: number, Tmodel: number) {
  const a = 1 / Math.sqrt(Tmodel);
  const ystar = Math.sqrt(2 * R0);
  const C = a * a + (2 * b * ystar) / alpha;
  const eC = Math.exp(-C * T);
  const out = (ystar * a * a * -Math.expm1(-C * T)) / (a * a + ((2 * b * ystar) / alpha) * eC);
  const lin = ystar * -Math.expm1(-a * a * T);
  return { out, lin, error: Math.abs(out - lin) };
}

const tight = (T: number, b: number, R0: number) =>
  compile(`const T = ${T}, b = ${b}, R0 = ${R0}\nparam w = 0\nmodel h = w / sqrt(T) + b * w^2 / 2\nloss square(target = sqrt(2 * R0))`, 'converse.ntk');

describe("Theorem 1.3's tight example against its closed form", () => {
  const grid: [number, number, number, number][] = [];
  for (const alpha of [1, 10, 100, 1000, 10000]) for (const T of [10, 100]) for (const [b, R0] of [[1, 0.5], [4, 2]] as const) grid.push([alpha, T, b, R0]);
  it.each(grid)('α = %s, T = %s, Lip(Dh) = %s, R0 = %s: E(T) to 1e-6 relative, between the bounds', (alpha, T, b, R0) => {
    const r = flow(tight(T, b, R0), { alpha, T, lipDh: b, lipH: null, radius: null });
    const ex = exactError(T, alpha, b, R0, T);
    expect(Math.abs(r.error - ex.error) / ex.error).toBeLessThan(1e-6);
    expect(Math.abs(r.out[0]! - ex.out)).toBeLessThan(1e-8 * Math.abs(ex.out)); // rtol 1e-10 on δ, accumulated over the steps
    expect(r.linOut[0]).toBeCloseTo(ex.lin, 12);
    expect(r.R0).toBeCloseTo(R0, 14);
    const kappa = (T / alpha) * b * Math.sqrt(R0);
    expect(r.kappa).toBeCloseTo(kappa, 12);
    // Theorem 1.3: E ≥ min(κ√R0/5, √R0/5); Theorem 1.2: E ≤ min(6κ√R0, √(8R0)).
    expect(r.error).toBeGreaterThanOrEqual(Math.min(kappa * Math.sqrt(R0), Math.sqrt(R0)) / 5);
    expect(r.error).toBeLessThanOrEqual(r.bound!);
    expect(r.error).toBeLessThanOrEqual(r.sharpBound!);
    // Proposition 3.1 on both flows
    expect(r.weightChange).toBeLessThanOrEqual(r.weightBound! * (1 + 1e-12));
    expect(r.linWeightChange).toBeLessThanOrEqual(r.weightBound! * (1 + 1e-12));
    if (r.errorAccuracy !== null) expect(r.errorAccuracy).toBeLessThan(1e-6 * ex.error);
  });

  it('reports the trajectory at requested times', () => {
    const r = flow(tight(100, 2, 0.5), { alpha: 10, T: 100, times: [10, 50] });
    expect(r.trajectory.map((p) => p.t)).toEqual([10, 50, 100]);
    for (const p of r.trajectory) {
      const ex = exactError(p.t, 10, 2, 0.5, 100);
      expect(Math.abs(p.error - ex.error) / ex.error).toBeLessThan(1e-6);
    }
  });
});

describe('a network', () => {
  it('the mean-field flow: E(T) small against the outputs, the loss decreases, Prop. 3.1 holds', () => {
    const m = compile(
      'dim n = 6, d = 2, m = 16\ndata X : [n, d] = normal(0, 1, seed = 1)\ndata y : [n] = normal(0, 1, seed = 2)\n' +
        'param a : [m] ~ uniform(-1/sqrt(m), 1/sqrt(m))\nparam U : [m, d] ~ uniform(-1/sqrt(m), 1/sqrt(m))\n' +
        'def f(x : [d]) = sum(a * tanh(sqrt(m) * (U @ x))) / sqrt(m)\nmodel h = f(X) / sqrt(n)\nloss square(target = y / sqrt(n))',
      'mf.ntk',
    );
    const r = flow(m, { alpha: 4, T: 20 });
    expect(r.loss).toBeLessThan(r.R0);
    expect(r.linLoss).toBeLessThan(r.R0);
    expect(r.weightChange).toBeLessThanOrEqual(r.weightBound!);
    expect(r.error).toBeGreaterThan(0);
    expect(r.error).toBeLessThan(Math.sqrt(8 * r.R0));
  });
});

describe('bounds', () => {
  it('do not apply without the square loss or with a non-smooth model, and say why', () => {
    const b = boundsReport({ alpha: 1, T: 1, R0: 1, lipDh: 1, lipH: 1, radius: 1, squareLoss: true, nonSmooth: true });
    expect(b.theorem12.value).toBeNull();
    expect(b.theorem12.note).toMatch(/not smooth/);
    const c = boundsReport({ alpha: 1, T: 1, R0: 1, lipDh: null, lipH: null, radius: null, squareLoss: true, nonSmooth: false });
    expect(c.theorem12.note).toMatch(/Lip\(Dh\) is unknown/);
    expect(c.prop31.value).toBe(1);
  });
  it('check their validity horizons', () => {
    const b = boundsReport({ alpha: 2, T: 10, R0: 0.5, lipDh: 1, lipH: 1, radius: 1, squareLoss: true, nonSmooth: false });
    expect(b.theorem12.horizon).toBe(8); // α²ρ²/R0
    expect(b.theorem12.valid).toBe(false);
    expect(b.prop11.horizon).toBeCloseTo(2 / Math.sqrt(0.5), 14); // αρ/(Lip(h)√R0)
    // κ = (T/α) Lip(Dh) √R0; Thm 1.2 = min(6κ√R0, √(8R0)); Prop 1.1 = T Lip(h)² κ √R0
    const kappa = 5 * Math.sqrt(0.5);
    expect(b.kappa).toBeCloseTo(kappa, 14);
    expect(b.theorem12.value).toBeCloseTo(Math.min(6 * kappa * Math.sqrt(0.5), 2), 14);
    expect(b.prop11.value).toBeCloseTo(10 * kappa * Math.sqrt(0.5), 14);
  });
});
