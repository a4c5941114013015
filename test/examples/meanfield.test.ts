/**
 * docs/examples.md, example 2: Corollary 2.2 on the 2-layer mean-field network (MATH.md §1,
 * Section 2), E(T) ≤ C·min(T/α, 1) for T ≤ cα², run through the CLI as the page shows it.
 *
 * The network is examples/meanfield-centered.ntk: examples/meanfield.ntk (same w0, same Dh) with
 * h(w0) subtracted, so that R0 does not grow with α. Lip(Dh) on B(w0, ρ = 1) is the closed-form
 * bound of MATH.md (Lemma C.1 note), recomputed here from the data files; it is checked against
 * sampled values of ‖D²h(w)[u, u]‖ in the ball, and with it Theorem 1.2 gives the corollary with
 * the explicit C = 6·Lip(Dh)·R0.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { directionalDerivative, evaluate, jacobian, loadModel } from '../../src/index.ts';
import { loadArray } from '../../src/io/data.ts';
import { type SweepRow } from '../../src/dynamics/sweep.ts';
import { fitLogLog, type LogLogFit } from '../../src/math/fit.ts';
import { ntk } from '../cli/run-cli.ts';

/** The documented constants: Lip(Dh) ≤ 2.16 on the ball of radius 1. */
const LIP_DH = 2.16, RADIUS = 1;
export const COROLLARY = ['sweep', 'examples/meanfield-centered.ntk', '--alpha', '1,4,16,64,256', '--T', '1,10,100', '--lip-dh', String(LIP_DH), '--radius', String(RADIUS)];

/**
 * MATH.md's closed-form bound for f(x) = (1/√m) Σ a_i σ(√m⟨u_i, x⟩) with σ the sigmoid:
 * Lip(Dh) ≤ max_x (|c|‖x‖² + √(c²‖x‖⁴ + 4s²‖x‖²))/2, s = sup|σ'| = 1/4,
 * c = (‖a0‖∞ + ρ)·√m·sup|σ''|, sup|σ''| = 1/(6√3). (h = f(X)/√n: ‖D²h‖ ≤ max_i ‖D²f(x_i)‖.)
 */
function closedFormLipDh(rho: number): number {
  const X = loadArray('examples/X.npy'), a = loadArray('examples/a.npy');
  const [n, d] = X.shape as [number, number], m = a.shape[0]!;
  let aMax = 0;
  for (const v of a.data) aMax = Math.max(aMax, Math.abs(v));
  const s = 1 / 4, c = (aMax + rho) * Math.sqrt(m) / (6 * Math.sqrt(3));
  let best = 0;
  for (let i = 0; i < n; i++) {
    let x2 = 0;
    for (let j = 0; j < d; j++) x2 += X.data[i * d + j]! ** 2;
    best = Math.max(best, (c * x2 + Math.sqrt(c * c * x2 * x2 + 4 * s * s * x2)) / 2);
  }
  return best;
}

describe('example 2: Corollary 2.2 on the mean-field network', () => {
  let rows: SweepRow[];
  let fitTime: LogLogFit;
  let code: number;
  beforeAll(async () => {
    const r = await ntk(...COROLLARY, '--json');
    code = r.code;
    ({ rows, fitTime } = JSON.parse(r.stdout) as { rows: SweepRow[]; fitTime: LogLogFit });
  });

  it('the centered network has meanfield.ntk\'s w0 and Jacobian, and h(w0) = 0', () => {
    const raw = loadModel('examples/meanfield.ntk'), centered = loadModel('examples/meanfield-centered.ntk');
    expect(Array.from(centered.w0)).toEqual(Array.from(raw.w0));
    expect(Array.from(jacobian(centered).data)).toEqual(Array.from(jacobian(raw).data));
    expect(evaluate(centered).every((v) => v === 0)).toBe(true);
  });

  it('the documented Lip(Dh) is the closed-form bound, and values of ‖D²h(w)[u, u]‖ attained in the ball stay below it (0.70 ≤ 2.15)', () => {
    const L = closedFormLipDh(RADIUS);
    expect(L).toBeLessThanOrEqual(LIP_DH);
    expect(L).toBeGreaterThan(LIP_DH - 0.01);
    // Lower bounds on the sup, attained in the ball: for each neuron i, move a_i by 0.99ρ (away
    // from 0) and take u = the unit vector along x* (the longest input) in u_i's block, where
    // D²f(x)[u, u] = a_i·√m·σ''(z_i)·⟨x, u⟩². The largest must not exceed the closed form.
    const model = loadModel('examples/meanfield-centered.ntk');
    const p = model.paramCount, m = 64, d = 3;
    const X = loadArray('examples/X.npy').data;
    let star = 0;
    for (let j = 1; j < 16; j++) if (Math.hypot(...X.slice(j * d, j * d + d)) > Math.hypot(...X.slice(star * d, star * d + d))) star = j;
    const xs = X.slice(star * d, star * d + d), nx = Math.hypot(...xs);
    let sampled = 0;
    for (let i = 0; i < m; i++) {
      const w = model.w0.slice(), u = new Float64Array(p);
      w[i] += 0.99 * RADIUS * Math.sign(w[i]!);
      for (let k = 0; k < d; k++) u[m + i * d + k] = xs[k]! / nx;
      sampled = Math.max(sampled, Math.hypot(...directionalDerivative(model, [u, u], w)));
    }
    // the closed form is an upper bound, not far above what is attained
    expect(sampled).toBeLessThanOrEqual(L);
    expect(sampled).toBeGreaterThan(L / 10);
  });

  it('R0 = ½‖y‖²/n at every α, and E(T) ≤ min(6·Lip(Dh)·R0·T/α, √(8R0)) within the horizon T ≤ α²ρ²/R0', () => {
    expect(code).toBe(0);
    expect(rows.length).toBe(15);
    const y = loadArray('examples/y.npy').data;
    const R0 = 0.5 * y.reduce((s, v) => s + v * v, 0) / y.length;
    let inside = 0;
    for (const q of rows) {
      expect(q.R0).toBeCloseTo(R0, 14);
      const C = 6 * LIP_DH * R0;
      expect(q.bound).toBeCloseTo(Math.min(C * (q.T / q.alpha), Math.sqrt(8 * R0)), 12);
      if (q.T > (q.alpha * RADIUS) ** 2 / R0) continue;
      inside++;
      expect(q.error).toBeLessThanOrEqual(q.sharpBound!);
      expect(q.weightChange).toBeLessThanOrEqual(RADIUS);
    }
    expect(inside).toBe(12); // α = 1 with T = 10, 100 lies beyond the horizon 4.25
  });

  it('E ≤ C·min(T/α, 1): C fitted on α ≤ 16 holds for α = 64, 256 (T ≤ α²)', () => {
    const ratio = (q: SweepRow) => q.error / Math.min(q.T / q.alpha, 1);
    const lazy = rows.filter((q) => q.T <= q.alpha ** 2);
    const C = Math.max(...lazy.filter((q) => q.alpha <= 16).map(ratio));
    expect(C).toBeLessThan(0.02);
    for (const q of lazy.filter((q) => q.alpha > 16)) expect(ratio(q)).toBeLessThanOrEqual(C);
    // E falls at least as fast as T/α (the sweep's fit mixes E ∝ 1/α with E ∝ T^1.4–1.6: 1.475 here)
    expect(fitTime.slope - 2 * fitTime.stderr!).toBeGreaterThan(1);
    // Theorem 1.2's C = 6·Lip(Dh)·R0 is thousands of times above the measured E/(T/α) for T ≤ α
    const measured = Math.max(...rows.filter((q) => q.T <= q.alpha).map((q) => q.error / (q.T / q.alpha)));
    expect(measured).toBeLessThan(1e-3);
    expect(6 * LIP_DH * rows[0]!.R0 / measured).toBeGreaterThan(1000);
  });

  it('the lazy limit: at fixed T, E(T) ∝ 1/α as α grows', () => {
    for (const T of [1, 10]) {
      const at = rows.filter((q) => q.T === T && q.alpha >= 16);
      const fit = fitLogLog(at.map((q) => q.alpha), at.map((q) => q.error))!;
      expect(fit.slope).toBeGreaterThan(-1.1);
      expect(fit.slope).toBeLessThan(-0.9);
    }
    const alphaE = (a: number, T: number) => a * rows.find((q) => q.alpha === a && q.T === T)!.error;
    expect(Math.abs(alphaE(256, 1) / alphaE(64, 1) - 1)).toBeLessThan(0.02);
    expect(Math.abs(alphaE(256, 10) / alphaE(64, 10) - 1)).toBeLessThan(0.02);
  });

  it('without centering, R0 grows with α and E(T = 1) stops decreasing (meanfield.ntk)', async () => {
    const run = async (alpha: number) => JSON.parse((await ntk('flow', 'examples/meanfield.ntk', '--alpha', String(alpha), '--T', '1', '--json')).stdout) as { R0: number; error: number };
    const [a, b] = [await run(32), await run(128)];
    expect(b.R0 / a.R0).toBeGreaterThan(5);
    expect(b.error).toBeGreaterThan(a.error);
    const centered = (alpha: number) => rows.find((q) => q.alpha === alpha && q.T === 1)!.error;
    expect(centered(256)).toBeLessThan(centered(64) / 3);
  });
});
