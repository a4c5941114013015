/**
 * A certified bound is a bound or null (issue 21, item 0). In the overflow regime (exp∘exp, large
 * pre-activations) the enclosures' squares leave the floating-point range: the bound must then be
 * either a finite number that holds (scaled arithmetic) or null with the reason — never 0, NaN,
 * or a block silently skipped. Next to the ordinary random models of property.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { compile, type Model } from '../../src/index.ts';
import { checkedUpper, lipschitz } from '../../src/lip/index.ts';
import { certifiedBounds } from '../../src/lip/enclosure.ts';
import { hessianNorm, jacobianNorm, lanczosExtreme, Probe, seededUnit } from '../../src/lip/power.ts';
import { boundsReport } from '../../src/dynamics/bounds.ts';
import { NonFiniteMatrixError, symmetricEigen, symmetricEigenMl } from '../../src/linalg/dense.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { lcg } from '../helpers.ts';

/** Every way a reported upper bound could be wrong: not finite, 0 above a positive value, below it. */
function expectBoundOrNull(model: Model, rho: number, ctx: string) {
  const r = lipschitz(model, { radius: rho, starts: 3, maxSteps: 20 });
  for (const [name, e] of [['Lip(h)', r.lipH], ['Lip(Dh)', r.lipDh]] as const) {
    const c = `${ctx}\n${name} ∈ [${e.lower}, ${e.upper}] (${e.note})`;
    if (e.upper === null) {
      expect(e.note, c).toMatch(/no certified bound/);
      continue;
    }
    expect(Number.isFinite(e.upper), c).toBe(true);
    if (Number.isFinite(e.lower)) expect(e.upper, c).toBeGreaterThanOrEqual(e.lower * (1 - 1e-9));
  }
  // Values at random points of the ball never exceed a reported bound.
  const probe = new Probe(model, new Evaluator(model));
  const rand = lcg(model.paramCount * 7 + 3);
  for (let s = 0; s < 5; s++) {
    const d = seededUnit(model.paramCount, s + 11);
    const w = model.w0.map((x, i) => x + rho * rand() * d[i]!);
    const jn = jacobianNorm(probe, w).value, hn = hessianNorm(probe, w, seededUnit(model.paramCount, s + 1)).value;
    if (r.lipH.upper !== null && Number.isFinite(jn)) expect(jn, ctx).toBeLessThanOrEqual(r.lipH.upper);
    if (r.lipDh.upper !== null && Number.isFinite(hn)) expect(hn, ctx).toBeLessThanOrEqual(r.lipDh.upper);
  }
  return r;
}

describe('the overflow regime: exp∘exp and large pre-activations', () => {
  it('exp(exp(6w)) on B(0, 1): Lip(Dh) ≈ 9.46e181 (the squares overflow, the bound does not)', () => {
    const m = compile('param w = 0\nmodel h = exp(exp(6 * w))\nloss square(target = 2.7)', 'ee.ntk');
    const r = expectBoundOrNull(m, 1, 'exp(exp(6w))');
    // h'' = 36 e^{6w}(1 + e^{6w}) exp(e^{6w}), increasing: the sup is at w = 1.
    const e6 = Math.exp(6);
    const exact = Math.exp(Math.log(36) + 6 + Math.log1p(e6) + e6);
    const exactH = Math.exp(Math.log(6) + 6 + e6);
    expect(r.lipDh.upper).not.toBeNull();
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(exact * (1 - 1e-12));
    expect(r.lipDh.upper!).toBeLessThan(exact * 1.01);
    expect(r.lipH.upper!).toBeGreaterThanOrEqual(exactH * (1 - 1e-12));
    expect(r.lipH.upper!).toBeLessThan(exactH * 1.01);
    // The attained values reach the sup (the Gram matrix and the norms are scaled, not squared).
    expect(r.lipDh.lower).toBeGreaterThan(exact * 0.99);
  });

  it('exp(exp(7w)) on B(0, 1): beyond the floating-point range, null with the op that overflowed', () => {
    const m = compile('param w = 0\nmodel h = exp(exp(7 * w))', 'ee7.ntk');
    const c = certifiedBounds(m, { radius: 1 });
    expect(c.lipDh).toBeNull();
    expect(c.lipH).toBeNull();
    expect(c.lipDhNote).toMatch(/no certified bound/);
    expect(`${c.lipHNote} ${c.lipDhNote}`).toMatch(/exp/);
    expectBoundOrNull(m, 1, 'exp(exp(7w))');
  });

  it('sum(a * exp(u)) with u0 = 354: Hessian entries near 1e154, their squares overflow', () => {
    const m = compile('param a : [3] = 1\nparam u : [3] = 354\nmodel h = sum(a * exp(u))', 'au.ntk');
    const r = expectBoundOrNull(m, 1, 'sum(a exp(u)), u0 = 354');
    expect(r.lipDh.upper).not.toBeNull();
    // Each block (a_i, u_i) has D² = [[0, e^u], [e^u, a e^u]]; on the ball a ≤ 2, u ≤ 355.
    const e355 = Math.exp(355);
    expect(r.lipDh.upper!).toBeGreaterThanOrEqual(e355 * (1 + Math.SQRT2) * 0.999);
  });

  // Random exp∘exp networks and large pre-activations: seeded, next to the ordinary random models.
  const overflowModel = (seed: number): [string, number] => {
    const rand = lcg(seed);
    const c = (2 + 6 * rand()).toFixed(3);
    const u0 = (250 + 470 * rand()).toFixed(1);
    const kinds = [
      `param w : [2] = [0.1, -0.2]\nmodel h = exp(exp(${c} * w))`,
      `param a : [3] = 1\nparam u : [3] = ${u0}\nmodel h = sum(a * exp(u))`,
      `data x : [3] = normal(0, 1, seed = ${seed})\nparam W : [2, 3] ~ normal(0, 1)\nparam b : [2] = ${u0}\nmodel h = exp(W @ x + b)`,
      `param w = 0.05\nmodel h = [exp(exp(${c} * w)), sin(w)]`,
      `param v : [2] = [${u0}, 1]\nmodel h = tanh(v) * exp(v)`,
      `param w : [2] = [0.3, 0.1]\nmodel h = exp(${c} * exp(${c} * sum(w)))`,
    ];
    return [kinds[seed % kinds.length]!, [0.3, 1, 2][seed % 3]!];
  };
  it.each(Array.from({ length: 18 }, (_, i) => 1 + i))('overflow model seed %i: a bound or null, never below an attained value', (seed) => {
    const [src, rho] = overflowModel(seed);
    expectBoundOrNull(compile(src, `overflow${seed}.ntk`, { seed }), rho, `${src}\nρ = ${rho}`);
  });
});

describe('checkedUpper: what a reported upper bound may be', () => {
  it('null for NaN and ∞, null with a bug note below the attained value, unchanged otherwise', () => {
    expect(checkedUpper(1, NaN, null)[0]).toBeNull();
    expect(checkedUpper(1, Infinity, null)[1]).toMatch(/overflow/);
    const [u, note] = checkedUpper(2, 1, null);
    expect(u).toBeNull();
    expect(note).toMatch(/below the attained value.*bug/);
    expect(checkedUpper(2, 0, null)[0]).toBeNull(); // 0 above a positive attained value: the case
    expect(checkedUpper(2, 2 * (1 - 1e-12), null)[0]).toBe(2 * (1 - 1e-12)); // rounding of the attained value
    expect(checkedUpper(1, null, 'why')).toEqual([null, 'why']);
  });
});

describe('theorem bounds from non-finite constants', () => {
  const base = { alpha: 1, T: 1e-3, R0: 1.67e-4, radius: 1, lipH: 1, squareLoss: true, nonSmooth: false };
  it.each([NaN, Infinity])('Lip(Dh) = %s: no bound, with the reason', (L) => {
    const b = boundsReport({ ...base, lipDh: L });
    expect(b.kappa).toBeNull();
    for (const x of [b.theorem12, b.theorem12Sharp, b.prop11]) {
      expect(x.value).toBeNull();
      expect(x.note).toMatch(/not finite/);
    }
  });
  it('huge finite constants: every value is finite or null (κ² and Prop 1.1 overflow)', () => {
    const b = boundsReport({ ...base, lipDh: 1e300, lipH: 1e300 });
    for (const x of [b.theorem12, b.theorem12Sharp, b.prop11, b.prop31]) expect(x.value === null || Number.isFinite(x.value)).toBe(true);
    // min(6κ√R0, √(8R0)) with κ = ∞ is still √(8R0): a bound that holds whatever κ.
    expect(b.theorem12.value).toBeCloseTo(Math.sqrt(8 * base.R0), 15);
    expect(b.prop11.value).toBeNull();
    expect(b.prop11.note).toMatch(/overflows/);
  });
  it('the default ball makes the horizon α²ρ²/R0 equal T: no warning from rounding (relative tolerance 1e-12)', () => {
    for (const [alpha, T, R0] of [[1, 5, 0.3], [3, 5, 0.1234], [10, 7, 2.5], [0.3, 11, 1e-3]] as const) {
      const radius = Math.sqrt(T * R0) / alpha;
      const b = boundsReport({ alpha, T, R0, radius, lipDh: 1, lipH: 1, squareLoss: true, nonSmooth: false });
      expect(b.theorem12.valid).toBe(true);
      expect(b.theorem12.note).toBeNull();
    }
    // A real shortfall is still caught: 1e-9 relative beyond the horizon.
    const b = boundsReport({ alpha: 1, T: 5 * (1 + 1e-9), R0: 1, radius: Math.sqrt(5), lipDh: 1, lipH: 1, squareLoss: true, nonSmooth: false });
    expect(b.theorem12.valid).toBe(false);
  });
});

describe('the eigen routines never see a NaN or ∞', () => {
  it('symmetricEigen refuses a non-finite matrix with its own error (ml-matrix would read past its arrays)', () => {
    expect(() => symmetricEigen(Float64Array.of(1, NaN, NaN, 1), 2)).toThrow(NonFiniteMatrixError);
    expect(() => symmetricEigenMl(Float64Array.of(Infinity, 0, 0, 1), 2)).toThrow(/non-finite entry/);
  });
  it('Lanczos on an operator whose products overflow: NaN (no value), no exception', () => {
    const n = 4;
    const e = lanczosExtreme((x) => x.map((v, i) => 1.5e308 * Math.sign(v || 1) * (i + 1) / n), n, Float64Array.of(1, 1, 1, 1));
    expect(Number.isNaN(e.value)).toBe(true);
    const f = lanczosExtreme(() => Float64Array.of(NaN, 0, 0, 0), n, Float64Array.of(1, 0, 0, 0));
    expect(Number.isNaN(f.value)).toBe(true);
  });
  it('Lanczos on a finite operator of size 1e300: the value, not an overflow of its squares', () => {
    const e = lanczosExtreme((x) => x.map((v, i) => 1e300 * (i + 1) * v), 3, Float64Array.of(1, 1, 1));
    expect(e.value / 3e300).toBeCloseTo(1, 10);
  });
});

describe('flow and lip on the command line in the overflow regime', async () => {
  const { ntk } = await import('../cli/run-cli.ts');
  const { mkdtempSync, writeFileSync } = await import('node:fs');
  const { join } = await import('node:path');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 'ntk-overflow-'));
  const file = (name: string, src: string) => { const f = join(dir, name); writeFileSync(f, src); return f; };
  const ee6 = file('ee6.ntk', 'param w = 0\nmodel h = exp(exp(6 * w))\nloss square(target = 2.7)\n');
  const ee7 = file('ee7.ntk', 'param w = 0\nmodel h = exp(exp(7 * w))\nloss square(target = 2.7)\n');
  it('the issue\'s case: κ and the Theorem 1.2 bound are finite and hold, or absent', async () => {
    for (const f of [ee6, ee7]) {
      const r = await ntk('flow', f, '--alpha', '1', '--T', '1e-3', '--radius', '1', '--json');
      expect(r.code, r.stderr).toBe(0);
      const j = JSON.parse(r.stdout);
      for (const v of [j.kappa, j.bound, j.sharpBound, j.chizatBound]) expect(v === null || (typeof v === 'number' && Number.isFinite(v) && v > 0)).toBe(true);
      if (j.bound !== null) expect(j.bound).toBeGreaterThanOrEqual(j.error);
      if (j.kappa !== null) expect(j.kappa).toBeGreaterThan(1e170); // not 0: Lip(Dh) ≈ 9.5e181
    }
  }, 60000);
  it('lip beyond the range: null upper bounds with the reason, exit 0; the text says n/a, never NaN or 0', async () => {
    const r = await ntk('lip', ee7, '--radius', '1');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/NaN|≤ 0 /);
    const j = JSON.parse((await ntk('lip', ee7, '--radius', '1', '--json')).stdout);
    expect(j.lipDh.upper).toBeNull();
    expect(j.lipDh.note).toMatch(/no certified bound.*exp/);
  }, 60000);
});
