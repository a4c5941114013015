/**
 * Lipschitz estimates against closed forms: 1-D models (sin, tanh, the converse example), the
 * bilinear model, non-smooth and singular models, budgets.
 */
import { describe, expect, it } from 'vitest';
import { compile, loadModel } from '../../src/index.ts';
import { lipschitz } from '../../src/lip/index.ts';

/** sup over [lo, hi] of a function, by a fine grid plus its critical points (test oracle). */
function supOn(f: (x: number) => number, lo: number, hi: number, critical: number[] = []): number {
  let s = 0;
  for (let i = 0; i <= 20000; i++) s = Math.max(s, Math.abs(f(lo + ((hi - lo) * i) / 20000)));
  for (const c of critical) if (c >= lo && c <= hi) s = Math.max(s, Math.abs(f(c)));
  return s;
}
const crests = (phase: number) => Array.from({ length: 41 }, (_, n) => phase + (n - 20) * Math.PI);

describe('1-D exact cases', () => {
  const sinCases: [number, number][] = [[0.3, 0.1], [0.3, 0.2], [1.5, 0.2], [0, 0.05], [-2, 0.7], [3, 1.5]];
  it.each(sinCases)('h = sin(w), w0 = %f, ρ = %f', (w0, rho) => {
    const m = loadModel('examples/sin.ntk', { overrides: new Map([['w0', w0]]) });
    const r = lipschitz(m, { radius: rho });
    const lipH = supOn(Math.cos, w0 - rho, w0 + rho, crests(0));
    const lipDh = supOn(Math.sin, w0 - rho, w0 + rho, crests(Math.PI / 2));
    expect(r.lipH.lower).toBeCloseTo(lipH, 6);
    expect(r.lipDh.lower).toBeCloseTo(lipDh, 6);
    expect(Math.abs(r.lipH.lower - lipH)).toBeLessThan(1e-6);
    expect(Math.abs(r.lipDh.lower - lipDh)).toBeLessThan(1e-6);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(lipH * (1 - 1e-12));
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(lipDh * (1 - 1e-12));
    expect(r.lipH.upper!).toBeLessThanOrEqual(1.5 * lipH);
    expect(r.lipDh.upper!).toBeLessThanOrEqual(1.5 * lipDh);
    expect(r.lipH.converged && r.lipDh.converged).toBe(true);
    // the maximizer is in the ball and attains the lower bound
    expect(Math.abs(r.lipDh.argmax.w[0]! - w0)).toBeLessThanOrEqual(rho * (1 + 1e-12));
    expect(Math.abs(Math.sin(r.lipDh.argmax.w[0]!))).toBeCloseTo(r.lipDh.lower, 12);
  });

  const tanh1 = (x: number) => 1 - Math.tanh(x) ** 2;
  const tanh2 = (x: number) => 2 * Math.tanh(x) * (1 - Math.tanh(x) ** 2);
  const peak = Math.atanh(1 / Math.sqrt(3));
  const tanhCases: [number, number][] = [[0.5, 0.1], [0.5, 0.3], [0, 0.2], [-1, 0.5], [2, 0.4], [0.3, 2]];
  it.each(tanhCases)('h = tanh(w), w0 = %f, ρ = %f', (w0, rho) => {
    const m = loadModel('examples/tanh.ntk', { overrides: new Map([['w0', w0]]) });
    const r = lipschitz(m, { radius: rho });
    const lipH = supOn(tanh1, w0 - rho, w0 + rho, [0]);
    const lipDh = supOn(tanh2, w0 - rho, w0 + rho, [peak, -peak]);
    expect(Math.abs(r.lipH.lower - lipH)).toBeLessThan(1e-6);
    expect(Math.abs(r.lipDh.lower - lipDh)).toBeLessThan(1e-6);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(lipH * (1 - 1e-12));
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(lipDh * (1 - 1e-12));
    expect(r.lipH.upper!).toBeLessThanOrEqual(1.5 * lipH);
    expect(r.lipDh.upper!).toBeLessThanOrEqual(1.5 * lipDh);
  });

  it('the converse example h = w/√T + b·w²/2: Lip(h) = 1/√T + bρ, Lip(Dh) = b', () => {
    const m = loadModel('examples/converse.ntk', { overrides: new Map([['T', 25], ['b', 3]]) });
    const r = lipschitz(m, { radius: 0.4 });
    expect(r.lipH.lower).toBeCloseTo(0.2 + 1.2, 10);
    expect(r.lipDh.lower).toBeCloseTo(3, 10);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(1.4 * (1 - 1e-12));
    expect(r.lipH.upper!).toBeLessThan(1.4 * (1 + 1e-9));
    expect(r.lipDh.upper!).toBeLessThan(3 * (1 + 1e-9));
  });
});

describe('the two-parameter bilinear model h = c·a·b', () => {
  it('Lip(h) = |c|(‖w0‖ + ρ), Lip(Dh) = |c|', () => {
    const m = loadModel('examples/bilinear.ntk');
    for (const rho of [0.05, 0.3, 1]) {
      const r = lipschitz(m, { radius: rho });
      expect(r.lipH.lower).toBeCloseTo(2 * (1 + rho), 8); // ‖(0.6, 0.8)‖ = 1
      expect(r.lipDh.lower).toBeCloseTo(2, 12);
      expect(r.lipH.upper!).toBeGreaterThanOrEqual(2 * (1 + rho) * (1 - 1e-12));
      expect(r.lipH.upper!).toBeLessThanOrEqual(1.5 * 2 * (1 + rho));
      expect(r.lipDh.upper!).toBeGreaterThanOrEqual(2);
      expect(r.lipDh.upper!).toBeLessThan(2 * (1 + 1e-9));
      // the maximizer of ‖Dh‖ = 2‖w‖ is w0·(1 + ρ) (radially outwards)
      expect(r.lipH.argmax.w[0]!).toBeCloseTo(0.6 * (1 + rho), 6);
      expect(r.lipH.argmax.w[1]!).toBeCloseTo(0.8 * (1 + rho), 6);
    }
  });
  it('a vector-valued bilinear map: ‖D²h‖ is the bilinear norm, not a per-output one', () => {
    // h = (a·b, (a² − b²)/2): D²h[u,v] = (u1v2 + u2v1, u1v1 − u2v2), ‖D²h[u,u]‖ = ‖u‖² ⇒ ‖D²h‖ = 1,
    // while both per-output Hessians have norm 1 (root-sum-square √2, which the upper bound gives:
    // the entrywise majorant loses the signs that make the two outputs orthogonal).
    const m = compile('param a = 0.2\nparam b = -0.1\nmodel h = [a * b, (a^2 - b^2) / 2]', 'v.ntk');
    const r = lipschitz(m, { radius: 0.5 });
    expect(r.lipDh.lower).toBeCloseTo(1, 10);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(1);
    expect(r.lipDh.upper!).toBeCloseTo(Math.SQRT2, 9);
  });
});

describe('non-smooth and singular models', () => {
  it('relu with its kink inside the ball: Lip(Dh) has no upper bound, Lip(h) does', () => {
    const m = compile('param w = 0.05\nmodel h = relu(w) + 0.5 * w', 'r.ntk');
    const r = lipschitz(m, { radius: 0.1 });
    expect(r.lipDh.upper).toBeNull();
    expect(r.lipDh.note).toMatch(/kink/);
    expect(r.lipH.lower).toBeCloseTo(1.5, 12);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(1.5);
    expect(r.lipH.upper!).toBeLessThanOrEqual(2.0 + 1e-12); // |0.5 + [0, 1]| via |∇relu| ≤ 1... majorant
    expect(r.lipDh.lower).toBe(0);
  });
  it('relu with its kink outside the ball is smooth there', () => {
    const m = compile('param w = 0.5\nmodel h = relu(w)^2', 'r.ntk');
    const r = lipschitz(m, { radius: 0.1 });
    expect(r.lipDh.lower).toBeCloseTo(2, 10);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(2);
    expect(r.lipDh.upper!).toBeLessThan(2 + 1e-9);
  });
  it('log with 0 in reach: no certified bounds, with the reason', () => {
    const m = compile('param w = 0.05\nmodel h = log(w)', 'l.ntk');
    const r = lipschitz(m, { radius: 0.1, lowerOnly: false });
    expect(r.lipH.upper).toBeNull();
    expect(r.lipDh.upper).toBeNull();
    expect(r.lipH.note).toMatch(/log/);
  });
  it('1/w away from 0: exact', () => {
    const m = compile('param w = 1\nmodel h = 1 / w', 'd.ntk');
    const r = lipschitz(m, { radius: 0.5 });
    expect(r.lipH.lower).toBeCloseTo(4, 8); // 1/w² at 0.5
    expect(r.lipDh.lower).toBeCloseTo(16, 8); // 2/w³ at 0.5
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(4);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(16);
    expect(r.lipDh.upper!).toBeLessThan(16 * 1.5);
  });
});

describe('options and budgets', () => {
  it('a radius that is not positive or absurd is refused', () => {
    const m = loadModel('examples/sin.ntk');
    for (const rho of [0, -1, NaN, Infinity, 1e300]) expect(() => lipschitz(m, { radius: rho })).toThrow(/radius/);
  });
  it('an exhausted step budget is reported, with the best values found', () => {
    const m = loadModel('examples/tanh.ntk', { overrides: new Map([['w0', 0]]) });
    const r = lipschitz(m, { radius: 1, maxSteps: 1, starts: 1 });
    expect(r.lipDh.converged).toBe(false);
    expect(r.lipDh.note).toMatch(/budget/);
    expect(r.lipDh.lower).toBeGreaterThan(0);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(r.lipDh.lower);
  });
  it('is deterministic for a seed', () => {
    const m = compile('data X : [4, 2] = normal(0, 1, seed = 1)\nparam W : [5, 2] ~ normal(0, 1)\nparam a : [5] ~ normal(0, 1)\ndef f(x : [2]) = dot(a, tanh(W @ x)) / 5\nmodel h = f(X)', 'mlp.ntk');
    const a = lipschitz(m, { radius: 0.1, seed: 3, starts: 3 });
    const b = lipschitz(m, { radius: 0.1, seed: 3, starts: 3 });
    expect(a.lipDh.lower).toBe(b.lipDh.lower);
    expect(Array.from(a.lipDh.argmax.w)).toEqual(Array.from(b.lipDh.argmax.w));
  });
});
