/**
 * The infinite-width limits derived from the graph (src/nth/limit.ts) against hand-derived
 * recursions (Lee et al.'s eq. 1 with σ_w, σ_b and biases; stacked nonlinearities and a residual
 * block; Θ ⊗ I_k), against the mean empirical NTK of wide networks over seeds, the growth
 * exponents of other parametrizations, and located errors outside the supported class.
 */
import { describe, expect, it } from 'vitest';
import { compile, evaluate, limitKernels, loadModel, ntk, NtkError } from '../../src/index.ts';
import { atomFn, pairExpectation, type GaussFn } from '../../src/math/gaussian.ts';

type Mat = number[][];
const dataOf = (file: string, name: string) => loadModel(file).data.find((d) => d.name === name)!;
const rows = (d: { shape: number[]; value: Float64Array }) => Array.from({ length: d.shape[0]! }, (_, i) => Array.from(d.value.subarray(i * d.shape[1]!, (i + 1) * d.shape[1]!)));
const map2 = (A: Mat, f: (x: number, i: number, j: number) => number): Mat => A.map((r, i) => r.map((x, j) => f(x, i, j)));
const maxRel = (A: Mat, B: Mat) => {
  let e = 0, s = 0;
  A.forEach((r, i) => r.forEach((x, j) => { e = Math.max(e, Math.abs(x - B[i]![j]!)); s = Math.max(s, Math.abs(B[i]![j]!)); }));
  return e / s;
};
const block = (M: Mat, r0: number, r1: number, c0: number, c1: number) => M.slice(r0, r1).map((r) => r.slice(c0, c1));

/** E[f(u)g(v)] over a covariance matrix Σ (all pairs), from math/gaussian (closures, not the graph). */
function pairMat(f: GaussFn, g: GaussFn, S: Mat): Mat {
  const n = S.length;
  const s11 = new Float64Array(n * n), s12 = new Float64Array(n * n), s22 = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) { s11[a * n + b] = S[a]![a]!; s12[a * n + b] = S[a]![b]!; s22[a * n + b] = S[b]![b]!; }
  const v = pairExpectation(f, g, s11, s12, s22).value;
  return S.map((r, a) => r.map((_, b) => v[a * n + b]!));
}
const fn = (name: string, f: (x: number) => number): GaussFn => ({ name, kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = f(x[i]!); } });

describe("Lee et al.'s eq. 1: a relu MLP with σ_w, σ_b, biases and an output bias", () => {
  const file = 'examples/limit-mlp.ntk';
  const r = limitKernels(loadModel(file), { width: ['m'] });
  // the arc-cosine kernels written out here, independently of math/gaussian.ts
  const acos = (S: Mat, order: 0 | 1) => map2(S, (s, a, b) => {
    const p = Math.sqrt(S[a]![a]! * S[b]![b]!), th = Math.acos(Math.max(-1, Math.min(1, s / p)));
    return order === 1 ? (p * (Math.sin(th) + (Math.PI - th) * Math.cos(th))) / (2 * Math.PI) : (Math.PI - th) / (2 * Math.PI);
  });
  const X = [...rows(dataOf(file, 'X')), ...rows(dataOf(file, 'Xt'))];
  const sw = 1.5, sb = 0.3, d = 3;
  const S1 = X.map((x) => X.map((y) => (sw * sw * x.reduce((s, v, i) => s + v * y[i]!, 0)) / d + sb * sb));
  const T1 = S1;
  const S2 = map2(acos(S1, 1), (k) => sw * sw * k + sb * sb);
  const T2 = map2(S2, (s, a, b) => s + sw * sw * acos(S1, 0)[a]![b]! * T1[a]![b]!);
  const S3 = map2(acos(S2, 1), (k) => sw * sw * k + sb * sb);
  const T3 = map2(S3, (s, a, b) => s + sw * sw * acos(S2, 0)[a]![b]! * T2[a]![b]!);

  it('the NNGP and NTK equal the hand recursion to 1e-12 (closed forms)', () => {
    expect(r.nngpGrowth).toBe(0);
    expect(r.ntkGrowth).toBe(0);
    expect(r.method.every((m) => m.method === 'closed')).toBe(true);
    expect(maxRel(r.nngp!, block(S3, 0, 8, 0, 8))).toBeLessThan(1e-12);
    expect(maxRel(r.ntk!, block(T3, 0, 8, 0, 8))).toBeLessThan(1e-12);
    expect(r.accuracy).toBeGreaterThan(0);
    expect(r.accuracy).toBeLessThan(1e-11);
  });
  it('the test × train and test × test blocks too', () => {
    expect(r.nTest).toBe(4);
    expect(maxRel(r.nngpCross!, block(S3, 8, 12, 0, 8))).toBeLessThan(1e-12);
    expect(maxRel(r.ntkCross!, block(T3, 8, 12, 0, 8))).toBeLessThan(1e-12);
    expect(maxRel(r.nngpTest!, block(S3, 8, 12, 8, 12))).toBeLessThan(1e-12);
    expect(maxRel(r.ntkTest!, block(T3, 8, 12, 8, 12))).toBeLessThan(1e-12);
  });
  it('the mean empirical NTK of width-512 networks over 4 seeds is within its sampling error', () => {
    const n = 8, S = 4;
    const mean: Mat = Array.from({ length: n }, () => new Array(n).fill(0));
    for (let s = 0; s < S; s++) {
      const K = ntk(loadModel(file, { seed: s })).data;
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) mean[a]![b]! += K[a * n + b]! / S;
    }
    const fro = (A: Mat, B: Mat) => Math.sqrt(A.flat().reduce((s, x, i) => s + (x - B.flat()[i]!) ** 2, 0) / B.flat().reduce((s, x) => s + x * x, 0));
    // Θ̂ − Θ = O(1/√m) per seed (measured ≈ 0.1 relative at m = 512), so the mean of 4 is ≈ 0.05;
    // 0.09 leaves room for that and the O(1/m) bias; a wrong kernel (the NNGP) is far outside it
    expect(fro(mean, r.ntk!)).toBeLessThan(0.09);
    expect(fro(mean, r.nngp!)).toBeGreaterThan(0.3);
  });
  it('the NNGP is the mean of h(a)h(b) over 300 seeds of a width-64 network (z-scores < 4.5)', () => {
    const S = 300, n = 8;
    const sum: Mat = Array.from({ length: n }, () => new Array(n).fill(0)), sq: Mat = Array.from({ length: n }, () => new Array(n).fill(0));
    for (let s = 0; s < S; s++) {
      const h = evaluate(loadModel(file, { seed: s, overrides: new Map([['m', 64]]) }));
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) { const x = h[a]! * h[b]!; sum[a]![b]! += x; sq[a]![b]! += x * x; }
    }
    let worst = 0;
    for (let a = 0; a < n; a++) for (let b = 0; b <= a; b++) {
      const m = sum[a]![b]! / S, sd = Math.sqrt((sq[a]![b]! / S - m * m) * S / (S - 1));
      worst = Math.max(worst, Math.abs(m - r.nngp![a]![b]!) / (sd / Math.sqrt(S)));
    }
    expect(worst).toBeLessThan(4.5);
  });
});

describe('stacked nonlinearities and a residual block (outside stax)', () => {
  const file = 'examples/limit-sintanh.ntk';
  const few = new Map([['n', 4]]);   // four inputs: the quadrature runs twice (derivation and reference)
  it('equal the hand recursion, with quadrature for sin ∘ tanh', { timeout: 240_000 }, () => {
    const r = limitKernels(loadModel(file, { overrides: few }), { width: ['m'], overrides: few });
    const X = rows(loadModel(file, { overrides: few }).data.find((d) => d.name === 'X')!);
    const c = 1 / Math.sqrt(3);
    const st = fn('sin∘tanh', (x) => Math.sin(Math.tanh(c * x))), dst = fn('(sin∘tanh)′', (x) => c * Math.cos(Math.tanh(c * x)) * (1 - Math.tanh(c * x) ** 2));
    const th = fn('tanh', Math.tanh), dth = fn('tanh′', (x) => 1 - Math.tanh(x) ** 2);
    const S1 = X.map((x) => X.map((y) => x.reduce((s, v, i) => s + v * y[i]!, 0)));   // W1·x, the 1/√d inside φ
    const T1 = S1;
    const E1 = pairMat(st, st, S1), Tz1 = map2(pairMat(dst, dst, S1), (x, a, b) => x * T1[a]![b]!);
    const S2 = E1, T2 = map2(E1, (x, a, b) => x + Tz1[a]![b]!);
    // z2 = z1 + tanh(g2): g2 is independent of g1 and both functions are odd (cross means 0)
    const Ez2 = map2(E1, (x, a, b) => x + pairMat(th, th, S2)[a]![b]!);
    const Tz2 = map2(Tz1, (x, a, b) => x + pairMat(dth, dth, S2)[a]![b]! * T2[a]![b]!);
    const S3 = Ez2, T3 = map2(Ez2, (x, a, b) => x + Tz2[a]![b]!);
    const K = pairMat(atomFn('erf'), atomFn('erf'), S3);
    const Th = map2(K, (x, a, b) => x + pairMat(atomFn('erfprime'), atomFn('erfprime'), S3)[a]![b]! * T3[a]![b]!);
    expect(maxRel(r.nngp!, K)).toBeLessThan(1e-11);
    expect(maxRel(r.ntk!, Th)).toBeLessThan(1e-11);
    expect(r.method.some((m) => m.method === 'quadrature' && m.pair.includes('sin(tanh'))).toBe(true);
    expect(r.accuracy).toBeLessThan(1e-11);
  });
});

describe('multiple outputs', () => {
  it('a readout matrix V : [k, m] gives Θ ⊗ I_k: the single-output kernels on the diagonal blocks', () => {
    const multi = limitKernels(loadModel('examples/limit-multi.ntk'), { width: ['m'] });
    const src = (readFileSync('examples/limit-multi.ntk', 'utf8'))
      .replace('param V : [k, m]', 'param V : [m]').replace('return V @ z2 / sqrt(m)', 'return dot(V, z2) / sqrt(m)');
    const single = limitKernels(compile(src, 'examples/limit-multi-single.ntk'), { width: ['m'] });
    const n = 5, k = 3;
    expect(multi.outputs).toBe(3);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) for (let o = 0; o < k; o++) for (let p = 0; p < k; p++) {
      const want = o === p ? single.ntk![a]![b]! : 0, wantK = o === p ? single.nngp![a]![b]! : 0;
      expect(multi.ntk![a * k + o]![b * k + p]).toBeCloseTo(want, 13);
      expect(multi.nngp![a * k + o]![b * k + p]).toBeCloseTo(wantK, 13);
    }
  });
});

const BASE = `dim n = 4, d = 2, m = 64
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = normal(0, 1, seed = 2)
param W1 : [m, d] ~ normal(0, 1)
param W2 : [m, m] ~ INIT2
param a : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = tanh(W1 @ x / sqrt(d))
  BODY
}
model h = f(X)
loss square(target = y)
`;
const variant = (init2: string, body: string) => compile(BASE.replace('INIT2', init2).replace('BODY', body), 'variant.ntk');

describe('parametrizations the limit does not fit', () => {
  const ntkParam = limitKernels(variant('normal(0, 1)', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)'), { width: ['m'] });
  it('standard parametrization: the same NNGP, ntk null with ntkGrowth 1', () => {
    const sp = limitKernels(variant('normal(0, 1 / sqrt(m))', 'return dot(a / sqrt(m), tanh(W2 @ z1))'), { width: ['m'] });
    expect(sp.nngpGrowth).toBe(0);
    expect(maxRel(sp.nngp!, ntkParam.nngp!)).toBeLessThan(1e-12);
    expect(sp.ntk).toBeNull();
    expect(sp.ntkGrowth).toBe(1);
    expect(sp.ntkNote).toMatch(/standard parametrization/);
  });
  it('a mean-field readout 1/m: both kernels vanish (growth −1)', () => {
    const mf = limitKernels(variant('normal(0, 1)', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / m'), { width: ['m'] });
    expect(mf.nngp).toBeNull();
    expect(mf.nngpGrowth).toBe(-1);
    expect(mf.ntkGrowth).toBe(-1);
  });
});

function located(f: () => unknown, message: RegExp, line?: number) {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NtkError);
    const d = (e as NtkError).diagnostics[0]!;
    expect(d.message).toMatch(message);
    if (line !== undefined) expect(d.span?.line).toBe(line);
    return d;
  }
  throw new Error('expected an error');
}

describe('constructs outside the supported class: located errors', () => {
  it('a weight matrix reused across layers', () => {
    located(() => limitKernels(variant('normal(0, 1)', 'let z2 = tanh(W2 @ z1 / sqrt(m))\n  return dot(a, tanh(W2 @ z2 / sqrt(m))) / sqrt(m)'), { width: ['m'] }), /reused/, 10);
  });
  it('a nonlinearity of a product of two hidden vectors', () => {
    located(() => limitKernels(variant('normal(0, 1)', 'return dot(a, tanh((W2 @ z1 / sqrt(m)) * tanh(W1 @ x / sqrt(d) + 1))) / sqrt(m)'), { width: ['m'] }), /product of two hidden vectors/, 9);
  });
  it('a nonlinearity of an unnormalized preactivation', () => {
    located(() => limitKernels(variant('normal(0, 1)', 'return dot(a, tanh(W2 @ z1)) / sqrt(m)'), { width: ['m'] }), /variance scales like m\^1/, 9);
  });
  it('weights that are not centred, or not random', () => {
    located(() => limitKernels(variant('normal(0.5, 1)', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)'), { width: ['m'] }), /not centred/);
    located(() => limitKernels(variant('uniform(0, 1)', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)'), { width: ['m'] }), /not centred/);
    const fixed = compile(BASE.replace('param W2 : [m, m] ~ INIT2', 'param W2 : [m, m] = 0.5').replace('BODY', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)'), 'fixed.ntk');
    located(() => limitKernels(fixed, { width: ['m'] }), /fixed initial values/);
  });
  it('a --width that names no dim, or a dim that sizes data or no weight', () => {
    const m = variant('normal(0, 1)', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)');
    expect(located(() => limitKernels(m, { width: ['q'] }), /no dim named 'q'/).file).toBe('--width');
    located(() => limitKernels(m, { width: ['n'] }), /sizes the data 'X'/);
    located(() => limitKernels(compile(BASE.replace('dim n = 4,', 'dim n = 4, k = 3,').replace('INIT2', 'normal(0, 1)').replace('BODY', 'return dot(a, tanh(W2 @ z1 / sqrt(m))) / sqrt(m)'), 'k.ntk'), { width: ['k'] }), /sizes no weight/);
  });
});

import { readFileSync } from 'node:fs';
