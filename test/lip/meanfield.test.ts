/**
 * The mean-field network of Section 2 (examples/meanfield.ntk): the certified Lip(Dh) must be at
 * least as tight as the closed-form per-neuron bound of MATH.md (Lemma C.1 note), and within 1.5×
 * of the attained lower bound at small ρ.
 */
import { describe, expect, it } from 'vitest';
import { loadModel } from '../../src/index.ts';
import { lipschitz } from '../../src/lip/index.ts';

/**
 * MATH.md §1: Lip(Dh) ≤ max_x (|c|‖x‖² + √(c²‖x‖⁴ + 4s²‖x‖²))/2 with s = sup|σ'| and
 * c = (‖a0‖∞ + ρ)√m sup|σ''| — for σ the logistic sigmoid, s = 1/4 and sup|σ''| = 1/(6√3).
 * (h = f(X)/√n, so ‖D²h‖ ≤ (1/√n)Σ_j |z_j| ‖D²f(x_j)‖ ≤ max_j ‖D²f(x_j)‖.)
 */
function lemmaC1(X: Float64Array, d: number, a0: Float64Array, m: number, rho: number): number {
  const s = 0.25, s2 = 1 / (6 * Math.sqrt(3));
  let amax = 0;
  for (const v of a0) amax = Math.max(amax, Math.abs(v));
  const c = (amax + rho) * Math.sqrt(m) * s2;
  let best = 0;
  for (let j = 0; j < X.length / d; j++) {
    let x2 = 0;
    for (let t = 0; t < d; t++) x2 += X[j * d + t]! ** 2;
    best = Math.max(best, (c * x2 + Math.sqrt(c * c * x2 * x2 + 4 * s * s * x2)) / 2);
  }
  return best;
}

describe('mean-field network', () => {
  const model = loadModel('examples/meanfield.ntk');
  const X = model.data.find((x) => x.name === 'X')!.value;
  const a = model.params.find((q) => q.name === 'a')!;
  const a0 = model.w0.subarray(a.offset, a.offset + a.size);
  const m = model.constants.get('m')!, d = model.constants.get('d')!;

  it('ρ = 0.1: upper ≤ Lemma C.1, upper ≤ 1.5 × lower, under 10 s', () => {
    const r = lipschitz(model, { radius: 0.1 });
    const closed = lemmaC1(X, d, a0, m, 0.1);
    // figures for the report
    console.log(`meanfield ρ=0.1: Lip(Dh) ∈ [${r.lipDh.lower}, ${r.lipDh.upper}], Lemma C.1 ${closed}; Lip(h) ∈ [${r.lipH.lower}, ${r.lipH.upper}]; ${r.time.total.toFixed(0)} ms (lower ${r.time.lower.toFixed(0)}, upper ${r.time.upper.toFixed(0)})`);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(r.lipDh.lower);
    expect(r.lipDh.upper!).toBeLessThanOrEqual(closed);
    expect(r.lipDh.upper! / r.lipDh.lower).toBeLessThan(1.5);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(r.lipH.lower);
    expect(r.lipH.upper! / r.lipH.lower).toBeLessThan(1.1); // the mean value bound ‖Dh(w0)‖ + ρ·Lip(Dh)
    expect(r.enclosure!.lipHMethod).toBe('mean value');
    expect(r.time.total).toBeLessThan(10000);
    expect(r.enclosure!.blocks).toBe(m); // one block of the Hessian bound per neuron (a_i, u_i)
    expect(r.enclosure!.largestBlock).toBe(d + 1);
  }, 60000);

  it('larger balls: still valid and never worse than the closed form', () => {
    for (const rho of [0.5, 2]) {
      const r = lipschitz(model, { radius: rho, starts: 3, maxSteps: 20 });
      expect(r.lipDh.upper!).toBeGreaterThanOrEqual(r.lipDh.lower);
      expect(r.lipH.upper!).toBeGreaterThanOrEqual(r.lipH.lower);
      expect(r.lipDh.upper!).toBeLessThanOrEqual(lemmaC1(X, d, a0, m, rho));
    }
  }, 60000);
});
