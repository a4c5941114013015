/**
 * docs/examples.md, example 1: Theorem 1.3's tight example over a grid of (α, T, Lip(Dh), R0),
 * run through the CLI exactly as the page shows it. Checks at every grid point
 *   min(κ√R0, √R0)/5 ≤ E(T) ≤ min(2κ + 3κ², 2)·√(2R0) ≤ min(6κ√R0, √(8R0))
 * (Theorem 1.3 below, Theorem 1.2 and its proof's sharper form above), and that E(T)/√R0 is a
 * function of κ alone (substituting s = t/T, z = α·w/√(T R0) turns the flow into
 * dz/ds = −(1 + κz)(z + κz²/2 − √2), which has no other parameter), with the two limits of that
 * equation in closed form: E/√R0 → (4/e²)·κ as κ → 0 (first-order perturbation of the linear
 * solution z̄ = √2(1 − e^{−s})) and → √2/e as κ → ∞ (the model fits y*, the linearization
 * leaves r̄(T) = e^{−1}·√(2R0)).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { type SweepRow } from '../../src/dynamics/sweep.ts';
import { fitLogLog } from '../../src/math/fit.ts';
import { ntk } from '../cli/run-cli.ts';

export const CONVERSE = ['sweep', 'examples/converse.ntk', '--alpha', '10,100,1000', '--T', 'T', '--set', 'T=1,10,100', '--set', 'b=0.5,4', '--set', 'R0=0.5,8', '--lip-dh', 'b'];

describe('example 1: Theorem 1.3 (the tight example) against Theorem 1.2', () => {
  let r: Awaited<ReturnType<typeof ntk>>;
  let rows: SweepRow[];
  beforeAll(async () => {
    r = await ntk(...CONVERSE, '--json');
    rows = (JSON.parse(r.stdout) as { rows: SweepRow[] }).rows;
  });

  it('runs the 36 grid points, κ from 3.5e-4 to 113', () => {
    expect(r.code).toBe(0);
    expect(rows.length).toBe(36);
    const kappas = rows.map((q) => q.kappa!);
    expect(Math.min(...kappas)).toBeCloseTo(1e-3 / Math.sqrt(8), 12); // α = 1000, T = 1, b = 0.5, R0 = 0.5
    expect(Math.max(...kappas)).toBeCloseTo(10 * 4 * Math.sqrt(8), 9); // α = 10, T = 100, b = 4, R0 = 8
    for (const q of rows) {
      expect(q.R0).toBeCloseTo(q.set.R0!, 14);
      expect(q.kappa).toBeCloseTo((q.T / q.alpha) * q.set.b! * Math.sqrt(q.set.R0!), 12);
    }
  });

  it('min(κ√R0, √R0)/5 ≤ E(T) ≤ sharp bound ≤ Theorem 1.2 bound at every point', () => {
    for (const q of rows) {
      const s = Math.sqrt(q.R0), k = q.kappa!;
      expect(q.bound).toBeCloseTo(Math.min(6 * k * s, Math.sqrt(8 * q.R0)), 12);
      expect(q.sharpBound).toBeCloseTo(Math.min(2 * k + 3 * k * k, 2) * Math.sqrt(2 * q.R0), 12);
      const lower = Math.min(k * s, s) / 5;
      expect(q.error).toBeGreaterThanOrEqual(lower);
      expect(q.error).toBeLessThanOrEqual(q.sharpBound!);
      expect(q.sharpBound!).toBeLessThanOrEqual(q.bound! * (1 + 1e-15));
    }
    // Tight: E is 2.2–2.7 times the lower bound over the whole grid, 0.0004 ≤ κ ≤ 113.
    const ratios = rows.map((q) => q.error / (Math.min(q.kappa! * Math.sqrt(q.R0), Math.sqrt(q.R0)) / 5));
    expect(Math.min(...ratios)).toBeGreaterThan(2);
    expect(Math.max(...ratios)).toBeLessThan(3);
  });

  it('E(T)/√R0 depends on κ alone: (4/e²)·κ for small κ, √2/e for large κ', () => {
    const byKappa = new Map<string, number[]>();
    for (const q of rows) {
      const key = q.kappa!.toPrecision(10);
      byKappa.set(key, [...(byKappa.get(key) ?? []), q.error / Math.sqrt(q.R0)]);
    }
    const repeated = [...byKappa.values()].filter((v) => v.length > 1);
    expect(repeated.length).toBeGreaterThan(5);
    for (const v of repeated) for (const e of v) expect(Math.abs(e / v[0]! - 1)).toBeLessThan(1e-7);
    const small = rows.filter((q) => q.kappa! <= 0.15);
    expect(small.length).toBeGreaterThan(10);
    // first order in κ: the relative deviation from (4/e²)κ is O(κ)
    for (const q of small) expect(Math.abs(q.error / (q.kappa! * Math.sqrt(q.R0)) / (4 * Math.exp(-2)) - 1)).toBeLessThan(0.1 * q.kappa!);
    const fit = fitLogLog(small.map((q) => q.kappa!), small.map((q) => q.error / Math.sqrt(q.R0)))!;
    expect(Math.abs(fit.slope - 1)).toBeLessThan(0.01);
    const large = rows.filter((q) => q.kappa! >= 10);
    expect(large.length).toBeGreaterThan(3);
    for (const q of large) expect(q.error / Math.sqrt(q.R0)).toBeCloseTo(Math.SQRT2 / Math.E, 6);
  });
});
