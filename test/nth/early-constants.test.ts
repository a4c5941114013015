/**
 * The early-time constants ζ, ν, ϑ0, ϑ1, ϑ2 (seed 004, MATH.md §4): closed forms where φ′ is a
 * combination of the registry's atoms, converged quadrature otherwise, each checked against the
 * other and against an independent composite Simpson rule written here.
 */
import { describe, expect, it } from 'vitest';
import { atomMoment, atomFn, compile, early, expect1, gaussianMoments, recognizeTwoLayer } from '../../src/index.ts';

const net = (phi: string) =>
  compile(
    'dim n = 12, d = 3, m = 8\ndata X : [n, d] = normal(0, 1, seed = 1)\n' +
      'param W : [m, d] ~ normal(0, 1, mirror = 1)\nparam v : [m] ~ normal(1, 0, mirror = -1)\n' +
      `def f(x : [d]) = dot(v, ${phi}) / sqrt(m)\nmodel h = f(X)\nloss square(target = X[:, 0])`,
    'c.ntk',
  );
/** erf by its Maclaurin series / continued fraction is overkill here: Simpson of the density from 0 (independent). */
const erfRef = (z: number) => {
  const N = 2000, h = z / N;
  let s = 0;
  for (let i = 0; i <= N; i++) s += (i === 0 || i === N ? 1 : i % 2 ? 4 : 2) * Math.exp(-((i * h) ** 2));
  return ((2 / Math.sqrt(Math.PI)) * s * h) / 3;
};
const act = (phi: string) => recognizeTwoLayer(net(phi)).activation;

/**
 * E[w(g)F(g)], g ~ N(0, 1), by composite Simpson on [−12, 12] with the line split at 0 (and
 * nowhere else): independent of src/math.
 */
function simpson(F: (x: number) => number, w: (x: number) => number = () => 1, N = 20000): number {
  const dens = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  let total = 0;
  for (const [a, b] of [[-12, 0], [0, 12]] as const) {
    const h = (b - a) / N;
    // one-sided limits at the ends (a kink or jump at 0 is never straddled)
    const at = (x: number, i: number) => (i === 0 && a === 0 ? 1e-15 : i === N && b === 0 ? -1e-15 : x);
    let s = 0;
    for (let i = 0; i <= N; i++) {
      const x = at(a + i * h, i);
      s += (i === 0 || i === N ? 1 : i % 2 ? 4 : 2) * w(x) * F(x) * dens(x);
    }
    total += (s * h) / 3;
  }
  return total;
}

describe('the closed-form moments E[x^k A(βx)] of the atoms', () => {
  it('agree with the forced quadrature for every atom, scale, variance and power ≤ 3', () => {
    const atoms = ['one', 'id', 'sq', 'cube', 'abs', 'sign', 'erf', 'gauss', 'sin', 'cos', 'exp'] as const;
    for (const a of atoms)
      for (const beta of [1, 0.7, -1.3])
        for (const s of [1, 2.5])
          for (const k of [0, 1, 2, 3]) {
            const c = atomMoment(a, beta, k, s);
            expect(c, `${a} β=${beta} s=${s} k=${k}`).not.toBeNull();
            const f = { ...atomFn(a), terms: [{ atom: a, coef: 1, scale: beta }] };
            f.eval = (x, out) => { atomFn(a).eval(x.map((t) => beta * t), out); };
            const q = expect1(f, Float64Array.of(s), k, 1e-14, { quadrature: true });
            expect(q.method).toBe('quadrature');
            expect(Math.abs(c! - q.value[0]!), `${a} β=${beta} s=${s} k=${k}: ${c} vs ${q.value[0]}`).toBeLessThan(1e-12 * Math.max(1, Math.abs(c!)));
            expect(Math.abs(c! - q.value[0]!)).toBeLessThanOrEqual(Math.max(4 * q.accuracy, 1e-15 * Math.abs(c!)));
          }
  });

  it('expect1 uses them for combinations of atoms and reports the method', () => {
    const relu = expect1(atomFn('relu'), Float64Array.of(1, 4));
    expect(relu.method).toBe('closed');
    expect(relu.value[0]).toBe(0.5 * Math.sqrt(2 / Math.PI));
    expect(Math.abs(relu.value[1]! - Math.sqrt(2 / Math.PI))).toBeLessThan(1e-15);
    expect(relu.accuracy).toBeGreaterThan(0);
    // a power above 3 has no closed form here: quadrature
    expect(expect1(atomFn('erf'), Float64Array.of(1), 5).method).toBe('quadrature');
  });
});

describe('ζ, ν, ϑ0, ϑ1, ϑ2: closed forms where they exist, quadrature otherwise', () => {
  const ISSUE = {
    erfZeta: 2 / Math.sqrt(3 * Math.PI),
    reluTheta: 1 / Math.sqrt(2 * Math.PI),
  };

  it("match the issue's closed forms to 1e-12 (erf: ζ = 2/√(3π); relu: ζ = ½, ϑ0 = ϑ1 = 1/√(2π)), by closed form", () => {
    const erf = gaussianMoments(act('erf(W @ x / sqrt(d))'));
    expect(erf.methods).toEqual({ phi: 'closed form', dphi: 'closed form', gdphi: 'closed form', hermite3: 'closed form' });
    expect(Math.abs(erf.dphi - ISSUE.erfZeta)).toBeLessThan(1e-12);
    for (const k of ['phi', 'gdphi', 'hermite3'] as const) expect(erf[k]).toBe(0);
    const relu = gaussianMoments(act('relu(W @ x / sqrt(d))'));
    expect(relu.methods!.dphi).toBe('closed form');
    expect(Math.abs(relu.dphi - 0.5)).toBeLessThan(1e-12);
    expect(Math.abs(relu.phi - ISSUE.reluTheta)).toBeLessThan(1e-12);
    expect(Math.abs(relu.gdphi - ISSUE.reluTheta)).toBeLessThan(1e-12);
    expect(Math.abs(relu.hermite3)).toBeLessThan(1e-12); // E[(½g³ − g)1{g>0}] = (1 − 1)/√(2π)
  });

  it('closed forms agree with the converged quadrature and with an independent Simpson rule', () => {
    // φ in the language, φ and φ′ as plain functions for Simpson
    const cases: [string, (z: number) => number, (z: number) => number, boolean][] = [
      ['erf(W @ x / sqrt(d))', (z) => erfRef(z), (z) => (2 / Math.sqrt(Math.PI)) * Math.exp(-z * z), true],
      ['relu(W @ x / sqrt(d))', (z) => Math.max(z, 0), (z) => (z > 0 ? 1 : 0), true],
      ['sin(2 * (W @ x) / sqrt(d))', Math.sin, (z) => 2 * Math.cos(2 * z), true],
      ['cos(W @ x / sqrt(d))', Math.cos, (z) => -Math.sin(z), true],
      ['exp(0.5 * (W @ x) / sqrt(d))', (z) => Math.exp(0.5 * z), (z) => 0.5 * Math.exp(0.5 * z), true],
      ['abs(W @ x / sqrt(d))', Math.abs, Math.sign, true],
      // a cubic polynomial (x², x³ are atoms: Isserlis), written with ^ and with a product
      ['W @ x / sqrt(d) + 0.5 * (W @ x / sqrt(d))^2 - 0.2 * (W @ x / sqrt(d))^3', (z) => z + 0.5 * z * z - 0.2 * z ** 3, (z) => 1 + z - 0.6 * z * z, true],
      ['(W @ x / sqrt(d) + 1) * (W @ x / sqrt(d) - 2)', (z) => (z + 1) * (z - 2), (z) => 2 * z - 1, true],
      ['3 * (W @ x) / sqrt(d) - 0.5 * relu(-(W @ x) / sqrt(d))', (z) => 3 * z - 0.5 * Math.max(-z, 0), (z) => 3 + (z < 0 ? 0.5 : 0), true],
      // no closed form: tanh, softplus, a composition, a kinked composition
      ['tanh(W @ x / sqrt(d))', Math.tanh, (z) => 1 - Math.tanh(z) ** 2, false],
      ['softplus(W @ x / sqrt(d))', (z) => Math.log1p(Math.exp(z)), (z) => 1 / (1 + Math.exp(-z)), false],
      ['tanh(sin(W @ x / sqrt(d)))', (z) => Math.tanh(Math.sin(z)), (z) => (1 - Math.tanh(Math.sin(z)) ** 2) * Math.cos(z), false],
      ['abs(tanh(W @ x / sqrt(d)))', (z) => Math.abs(Math.tanh(z)), (z) => Math.sign(z) * (1 - Math.tanh(z) ** 2), false],
    ];
    for (const [phi, F, dF, closed] of cases) {
      const a = act(phi);
      const mo = gaussianMoments(a);
      const q = gaussianMoments(a, 'c.ntk', { quadrature: true });
      const want = closed ? 'closed form' : /^quadrature \(\d+ nodes/;
      for (const k of ['phi', 'dphi', 'gdphi', 'hermite3'] as const) expect(mo.methods![k], `${phi} ${k}`).toMatch(want);
      if (phi.startsWith('abs(tanh')) expect(mo.methods!.dphi).toMatch(/split at the kink at 0/);
      const ref = {
        phi: simpson(F), dphi: simpson(dF), gdphi: simpson(dF, (g) => g), hermite3: simpson(dF, (g) => 0.5 * g ** 3 - g),
      };
      for (const k of ['phi', 'dphi', 'gdphi', 'hermite3'] as const) {
        expect(Math.abs(mo[k] - q[k]), `${phi} ${k}: closed/default vs quadrature`).toBeLessThan(1e-12);
        expect(Math.abs(mo[k] - ref[k]), `${phi} ${k}: vs Simpson ${ref[k]}`).toBeLessThan(1e-10);
      }
      expect(mo.accuracy).toBeGreaterThan(0);
      expect(mo.accuracy).toBeLessThan(1e-12);
    }
  });

  it('early reports the method of each constant in its JSON', () => {
    const r = early(net('relu(W @ x / sqrt(d))'), { lr: { W: 1 }, steps: 1, every: 1 });
    expect(r.constantMethods).toEqual({ zeta: 'closed form', nu: 'closed form', theta0: 'closed form', theta1: 'closed form', theta2: 'closed form' });
    const s = early(net('softplus(W @ x / sqrt(d))'), { lr: { W: 1 }, steps: 1, every: 1 });
    for (const k of ['zeta', 'nu', 'theta0', 'theta1', 'theta2'] as const) expect(s.constantMethods[k]).toMatch(/^quadrature \(\d+ nodes\)$/);
  });

  it('a kink away from 0 (relu(z − 1)) is split there, never integrated across: the exact values to 1e-12', () => {
    const mo = gaussianMoments(act('relu(W @ x / sqrt(d) - 1)'));
    const pdf1 = Math.exp(-0.5) / Math.sqrt(2 * Math.PI);
    const tail1 = 0.15865525393145707; // 1 − Φ(1) = erfc(1/√2)/2
    // E[(g − 1)⁺] = p(1) − (1 − Φ(1)); E[1{g>1}] = 1 − Φ(1); E[g 1{g>1}] = p(1); E[(½g³ − g)1{g>1}] = (3/2 − 1)p(1)
    expect(Math.abs(mo.phi - (pdf1 - tail1))).toBeLessThan(1e-12);
    expect(Math.abs(mo.dphi - tail1)).toBeLessThan(1e-12);
    expect(Math.abs(mo.gdphi - pdf1)).toBeLessThan(1e-12);
    expect(Math.abs(mo.hermite3 - 0.5 * pdf1)).toBeLessThan(1e-12);
    expect(mo.methods!.dphi).toMatch(/^quadrature \(\d+ nodes, split at the kink at 1\)$/);
    // two kinks, at ±0.5: |z| − relu... as abs(z − 0.5) + abs(z + 0.5)
    const two = gaussianMoments(act('abs(W @ x / sqrt(d) - 0.5) + abs(W @ x / sqrt(d) + 0.5)'));
    expect(two.methods!.phi).toMatch(/split at the kinks at -0.5, 0.5/);
    // E[sign(g − ½) + sign(g + ½)] = 0 by symmetry; E[g(sign(g − ½) + sign(g + ½))] = 2·2p(½)
    expect(Math.abs(two.dphi)).toBeLessThan(1e-12);
    expect(Math.abs(two.gdphi - (4 * Math.exp(-0.125)) / Math.sqrt(2 * Math.PI))).toBeLessThan(1e-12);
  });

  it('a fast-growing φ: the accuracy covers what lies beyond the quadrature’s ±14σ; E[φ] = ∞ is refused', () => {
    // E[e^{a g²}] = 1/√(1 − 2a): a = 0.24 converges; a = 0.4 converges too slowly for the cut to
    // be negligible, and the reported accuracy says so (it bounds the actual error); a = 1 diverges
    const ok = gaussianMoments(act('exp(0.24 * (W @ x / sqrt(d))^2)'));
    expect(Math.abs(ok.phi - 1 / Math.sqrt(1 - 0.48))).toBeLessThan(1e-12);
    expect(ok.accuracy).toBeLessThan(1e-12);
    const slow = gaussianMoments(act('exp(0.4 * (W @ x / sqrt(d))^2)'));
    expect(Math.abs(slow.phi - 1 / Math.sqrt(1 - 0.8))).toBeLessThanOrEqual(slow.accuracy);
    expect(slow.accuracy).toBeGreaterThan(1e-10);
    expect(() => early(net('exp((W @ x / sqrt(d))^2)'), { lr: { W: 1e-3 }, steps: 1, every: 1 })).toThrow(/Gaussian constants of .* do not converge .*E\[φ\(g\)\] may not exist/);
  });

  it('refuses a φ that jumps (its φ′ holds a δ), at 0 or elsewhere', () => {
    expect(() => gaussianMoments(act('sign(W @ x / sqrt(d))'))).toThrow(/jumps at z = 0: φ′ holds a δ/);
    expect(() => gaussianMoments(act('tanh(W @ x / sqrt(d)) + sign(W @ x / sqrt(d) - 1)'))).toThrow(/jumps at z = 1: φ′ holds a δ/);
  });
});
