import { describe, expect, it } from 'vitest';
import { atomFn, atomPair, expect1, pairExpectation, termsFn, type Atom, type GaussFn } from '../../src/math/gaussian.ts';
import { gaussHermite, gaussLegendre, halfGauss } from '../../src/math/quadrature.ts';

/** A few covariances: well-conditioned, strongly correlated, anti-correlated, unequal variances. */
const COVS: [number, number, number][] = [
  [1, 0.3, 1.2], [0.7, 0.69, 0.7], [2.5, -1.1, 0.9], [0.2, 0.05, 3], [1, 0, 1], [1.5, 1.49999, 1.5],
];
const arr = (k: 0 | 1 | 2) => Float64Array.from(COVS, (c) => c[k]);

describe('quadrature rules', () => {
  it('Gauss–Hermite integrates the normal moments exactly', () => {
    const { nodes, weights } = gaussHermite(20);
    const m = (k: number) => nodes.reduce((s, x, i) => s + weights[i]! * x ** k, 0);
    expect(m(0)).toBeCloseTo(1, 14);
    expect(m(2)).toBeCloseTo(1, 13);
    expect(m(4)).toBeCloseTo(3, 12);
    expect(m(8)).toBeCloseTo(105, 9);
  });
  it('Gauss–Legendre integrates polynomials on [−1, 1]', () => {
    const { nodes, weights } = gaussLegendre(12);
    expect(nodes.reduce((s, x, i) => s + weights[i]! * x ** 10, 0)).toBeCloseTo(2 / 11, 14);
  });
  it('Gauss–Legendre to a few ulp: the 3-point rule, x² and x^94 by the 48-point rule (exact to degree 95)', () => {
    const r3 = gaussLegendre(3), ulps = (x: number, ref: number) => Math.abs(x - ref) / (Number.EPSILON * ref);
    expect(ulps(r3.nodes[2]!, Math.sqrt(3 / 5))).toBeLessThanOrEqual(4);
    expect(r3.nodes[1]).toBe(0);
    expect(ulps(r3.weights[0]!, 5 / 9)).toBeLessThanOrEqual(4);
    expect(ulps(r3.weights[1]!, 8 / 9)).toBeLessThanOrEqual(4);
    const { nodes, weights } = gaussLegendre(48);
    const integral = (k: number) => nodes.reduce((acc, x, i) => acc + weights[i]! * x ** k, 0);
    // x² is not sensitive to the nodes' rounding: rounding of the sum alone
    expect(Math.abs(integral(2) - 2 / 3) / (2 / 3)).toBeLessThan(2e-15);
    // x^94 (the rule's degree − 1) amplifies a node's error 94-fold near ±1: ~1e-14 is 1 ulp of the nodes
    expect(Math.abs(integral(94) - 2 / 95) / (2 / 95)).toBeLessThan(1e-13);
  });
  it('the half-line rules reproduce the half-normal and Rayleigh moments', () => {
    const h0 = halfGauss(16, 0), h1 = halfGauss(16, 1);
    // E|z|^k over the half-normal: E[z] = √(2/π), E[z²] = 1, E[z³] = 2√(2/π)
    const m0 = (k: number) => h0.nodes.reduce((s, x, i) => s + h0.weights[i]! * x ** k, 0);
    expect(m0(1)).toBeCloseTo(Math.sqrt(2 / Math.PI), 13);
    expect(m0(2)).toBeCloseTo(1, 13);
    expect(m0(3)).toBeCloseTo(2 * Math.sqrt(2 / Math.PI), 12);
    // Rayleigh: E[r] = √(π/2), E[r²] = 2
    const m1 = (k: number) => h1.nodes.reduce((s, x, i) => s + h1.weights[i]! * x ** k, 0);
    expect(m1(1)).toBeCloseTo(Math.sqrt(Math.PI / 2), 13);
    expect(m1(2)).toBeCloseTo(2, 13);
    expect(m1(5)).toBeCloseTo(2 ** 2.5 * 3.323350970447843, 11); // 2^{k/2} Γ(1 + k/2)
  });
});

describe('closed forms against quadrature', () => {
  const atoms: Atom[] = ['one', 'id', 'abs', 'sign', 'erf', 'gauss', 'sin', 'cos', 'exp', 'sq', 'cube'];
  const pairs: [Atom, Atom][] = [];
  for (const a of atoms) for (const b of atoms) if (atomPair(a, b, 1, 0.3, 1.2) !== null) pairs.push([a, b]);
  it('covers the closed forms of MATH.md §5', () => {
    for (const a of ['abs', 'sign', 'erf', 'gauss', 'sin', 'cos', 'exp', 'id', 'sq', 'cube'] as Atom[]) expect(pairs).toContainEqual([a, a]);
    expect(pairs.length).toBeGreaterThan(50);
  });
  for (const [a, b] of pairs) {
    it(`${a}·${b}`, () => {
      // Scales inside the atoms exercise the (β1² s11, β1β2 s12, β2² s22) rescaling.
      const f = termsFn(a, [{ atom: a, coef: 1.3, scale: 0.8 }]), g = termsFn(b, [{ atom: b, coef: -0.7, scale: 1.1 }]);
      const closed = pairExpectation(f, g, arr(0), arr(1), arr(2));
      expect(closed.method).toBe('closed');
      const quad = pairExpectation(f, g, arr(0), arr(1), arr(2), { quadrature: true });
      expect(quad.method).toBe('quadrature');
      for (let i = 0; i < COVS.length; i++) {
        const scale = Math.max(1, Math.abs(closed.value[i]!));
        expect(Math.abs(closed.value[i]! - quad.value[i]!) / scale, `${a}·${b} at ${COVS[i]}`).toBeLessThan(
          // ρ → 1 with a kinked pair (the 1.49999 case): the polar rule still converges, a bit slower
          1e-10,
        );
      }
    });
  }
  it('relu and step match the arccosine kernels of MATH.md §5', () => {
    const relu = atomFn('relu'), step = atomFn('step');
    const [p, c, q] = [1.3, 0.4, 0.8];
    const rho = c / Math.sqrt(p * q), th = Math.acos(rho);
    const r = pairExpectation(relu, relu, Float64Array.of(p), Float64Array.of(c), Float64Array.of(q)).value[0]!;
    expect(r).toBeCloseTo((Math.sqrt(p * q) * (Math.sin(th) + (Math.PI - th) * Math.cos(th))) / (2 * Math.PI), 14);
    const s = pairExpectation(step, step, Float64Array.of(p), Float64Array.of(c), Float64Array.of(q)).value[0]!;
    expect(s).toBeCloseTo((Math.PI - th) / (2 * Math.PI), 14);
  });
});

describe('adaptive quadrature', () => {
  const tanh: GaussFn = { name: 'tanh', kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.tanh(x[i]!); } };
  it('converges to 1e-12 for tanh and reports an accuracy that is not 0', () => {
    const r = pairExpectation(tanh, tanh, arr(0), arr(1), arr(2));
    expect(r.method).toBe('quadrature');
    expect(r.accuracy).toBeGreaterThan(0);
    expect(r.accuracy).toBeLessThan(1e-11);
    // E[tanh(√3 z)²] = 0.589439084478130251841850648898 (mpmath.quad, 30 digits); Gauss–Hermite
    // alone only reaches 6e-8 at order 128 here (poles at ±iπ/(2√3)): the panels take over
    const d = pairExpectation(tanh, tanh, Float64Array.of(3), Float64Array.of(3), Float64Array.of(3));
    expect(Math.abs(d.value[0]! - 0.5894390844781303)).toBeLessThan(1e-13);
    // at ρ = 0 it factorizes into 1-D means (0 for an odd function)
    expect(Math.abs(r.value[4]!)).toBeLessThan(1e-14);
  });
  it('splits kinks: relu(tanh(u)) against a fine 1-D reference on the diagonal', () => {
    const rt: GaussFn = { name: 'relu∘tanh', kinkAtZero: true, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.max(0, Math.tanh(x[i]!)); } };
    const s = 1.7;
    const r = pairExpectation(rt, rt, Float64Array.of(s), Float64Array.of(s), Float64Array.of(s));
    // E[relu(tanh u)²] = ½ E[tanh² u] by symmetry; E[tanh²] by 1-D Gauss–Hermite (smooth)
    const t2: GaussFn = { name: 't2', kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = Math.tanh(x[i]!) ** 2; } };
    const ref = expect1(t2, Float64Array.of(s)).value[0]! / 2;
    expect(Math.abs(r.value[0]! - ref)).toBeLessThan(1e-12);
    // Hermite across the kink would not get there at the same orders
    const bad = pairExpectation(rt, rt, Float64Array.of(s), Float64Array.of(0.9), Float64Array.of(s), { scheme: 'hermite' });
    const good = pairExpectation(rt, rt, Float64Array.of(s), Float64Array.of(0.9), Float64Array.of(s));
    expect(Math.abs(bad.value[0]! - good.value[0]!)).toBeGreaterThan(1e-9);
  });
  it('the Mehler fast path agrees with the direct 2-D quadrature (its reference) to 1e-12', () => {
    const sig: GaussFn = { name: 'sigmoid', kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = 1 / (1 + Math.exp(-x[i]!)); } };
    const n = 40, s11 = new Float64Array(n), s12 = new Float64Array(n), s22 = new Float64Array(n);
    for (let i = 0; i < n; i++) { s11[i] = 0.3 + (i % 7) * 0.2; s22[i] = 0.5 + (i % 5) * 0.3; s12[i] = Math.sqrt(s11[i]! * s22[i]!) * (-0.99 + (1.99 * i) / (n - 1)); }
    for (const [f, g] of [[tanh, tanh], [sig, tanh]] as const) {
      const fast = pairExpectation(f, g, s11, s12, s22);
      const ref = pairExpectation(f, g, s11, s12, s22, { scheme: 'hermite' });
      for (let i = 0; i < n; i++) expect(Math.abs(fast.value[i]! - ref.value[i]!)).toBeLessThan(1e-12);
      expect(fast.accuracy).toBeLessThan(1e-11);
    }
  });
  it('1-D expectations: E[relu(g)], E[g·step(g)], E[cos g]', () => {
    expect(expect1(atomFn('relu'), Float64Array.of(2)).value[0]).toBeCloseTo(Math.sqrt(2 / (2 * Math.PI)), 14);
    expect(expect1(atomFn('step'), Float64Array.of(1), 1).value[0]).toBeCloseTo(1 / Math.sqrt(2 * Math.PI), 14);
    expect(expect1(atomFn('cos'), Float64Array.of(0.5)).value[0]).toBeCloseTo(Math.exp(-0.25), 14);
  });
});
