/**
 * The infinite-width limit, continued: concatenation along the width (the language's `concat`)
 * against a hand recursion and the mean empirical NTK of wide networks; test kernels' diagonals
 * on many test points (`--diag`) against the full blocks; the prediction plot's spec; the
 * recursion as LaTeX; the fast paths (arcsine shared, Mehler over a grid) against their
 * references; bad input.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import katex from 'katex';
import { describe, expect, it } from 'vitest';
import { compile, gpPredict, limitKernels, limitKernelsDense, nestedLimit, ntk, NtkError, predictionPlotSpec, squareTargets } from '../../src/index.ts';
import { atomFn, expect1, pairExpectation, pairGrid, PairGridCache, type GaussFn } from '../../src/math/gaussian.ts';
import { erfc } from '../../src/math/erf.ts';
import { bin, cst, toGaussFn, un, VAR } from '../../src/nth/limit-scalar.ts';
import { ntk as cli } from '../cli/run-cli.ts';

type Mat = number[][];
const maxRel = (A: Mat, B: Mat) => {
  let e = 0, s = 0;
  A.forEach((r, i) => r.forEach((x, j) => { e = Math.max(e, Math.abs(x - B[i]![j]!)); s = Math.max(s, Math.abs(B[i]![j]!)); }));
  return e / s;
};
const fn = (name: string, f: (x: number) => number): GaussFn => ({ name, kinkAtZero: false, eval: (x, o) => { for (let i = 0; i < x.length; i++) o[i] = f(x[i]!); } });
/** E[f(u)g(v)] for every pair of a covariance matrix, by math/gaussian's per-pair path. */
function pairMat(f: GaussFn, g: GaussFn, S: Mat, opts: { scheme?: 'hermite' } = {}): Mat {
  const n = S.length, s11 = new Float64Array(n * n), s12 = new Float64Array(n * n), s22 = new Float64Array(n * n);
  for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) { s11[a * n + b] = S[a]![a]!; s12[a * n + b] = S[a]![b]!; s22[a * n + b] = S[b]![b]!; }
  const v = pairExpectation(f, g, s11, s12, s22, opts).value;
  return S.map((r, a) => r.map((_, b) => v[a * n + b]!));
}
const map2 = (A: Mat, f: (x: number, i: number, j: number) => number): Mat => A.map((r, i) => r.map((x, j) => f(x, i, j)));

const CONCAT = `dim n = 5, d = 2, m = 512
data X : [n, d] = normal(0, 1, seed = 4)
param W1 : [m, d] ~ normal(0, 1)
param U1 : [m, d] ~ normal(0, 1)
param W2 : [m, 2 * m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z = concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)))
  return dot(v, erf(W2 @ z / sqrt(2 * m))) / sqrt(m)
}
model h = f(X)
`;

describe('concatenation along the width: concat(tanh(W1 x), relu(U1 x))', () => {
  const model = compile(CONCAT, 'concat.ntk');
  const r = limitKernels(model, { width: ['m'] });
  const X = Array.from({ length: 5 }, (_, i) => Array.from(model.data[0]!.value.subarray(2 * i, 2 * i + 2)));
  // hand recursion: z = [tanh(g1); relu(g2)] with g1, g2 independent of covariance q = ⟨x, x'⟩/d,
  // so the next preactivation has Σ3 = ½(E[tanh tanh] + E[relu relu]) and
  // Θ3 = Σ3 + ½(E[tanh′ tanh′] + E[step step])·q; the erf readout closes it.
  const q = X.map((x) => X.map((y) => (x[0]! * y[0]! + x[1]! * y[1]!) / 2));
  const tanh = fn('tanh', Math.tanh), dtanh = fn('tanh′', (x) => 1 - Math.tanh(x) ** 2);
  const Et = pairMat(tanh, tanh, q, { scheme: 'hermite' }), Edt = pairMat(dtanh, dtanh, q, { scheme: 'hermite' });
  const acos = (S: Mat, order: 0 | 1) => map2(S, (s, a, b) => {
    const p = Math.sqrt(S[a]![a]! * S[b]![b]!), th = Math.acos(Math.max(-1, Math.min(1, s / p)));
    return order === 1 ? (p * (Math.sin(th) + (Math.PI - th) * Math.cos(th))) / (2 * Math.PI) : (Math.PI - th) / (2 * Math.PI);
  });
  const Er = acos(q, 1), Es = acos(q, 0);
  const S3 = map2(q, (_, a, b) => (Et[a]![b]! + Er[a]![b]!) / 2);
  const T3 = map2(q, (x, a, b) => S3[a]![b]! + ((Edt[a]![b]! + Es[a]![b]!) / 2) * x);
  const K = map2(S3, (s, a, b) => (2 / Math.PI) * Math.asin((2 * s) / Math.sqrt((1 + 2 * S3[a]![a]!) * (1 + 2 * S3[b]![b]!))));
  const T = map2(S3, (s, a, b) => K[a]![b]! + ((4 / Math.PI) / Math.sqrt((1 + 2 * S3[a]![a]!) * (1 + 2 * S3[b]![b]!) - 4 * s * s)) * T3[a]![b]!);

  it('the NNGP and NTK equal the hand recursion to 1e-11', () => {
    expect(r.nngpGrowth).toBe(0);
    expect(r.ntkGrowth).toBe(0);
    expect(maxRel(r.nngp!, K)).toBeLessThan(1e-11);
    expect(maxRel(r.ntk!, T)).toBeLessThan(1e-11);
    expect(r.recursion.some((l) => l.includes('⊕'))).toBe(true);
  });
  it('the mean empirical NTK of width-512 networks over 4 seeds is within its sampling error', () => {
    const n = 5, S = 4, mean: Mat = Array.from({ length: n }, () => new Array(n).fill(0));
    for (let s = 0; s < S; s++) {
      const Kh = ntk(compile(CONCAT, 'concat.ntk', { seed: s })).data;
      for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) mean[a]![b]! += Kh[a * n + b]! / S;
    }
    const fro = (A: Mat, B: Mat) => Math.sqrt(A.flat().reduce((s, x, i) => s + (x - B.flat()[i]!) ** 2, 0) / B.flat().reduce((s, x) => s + x * x, 0));
    // Θ̂ − Θ = O(1/√m) per seed (≈ 0.1 relative at m = 512), ≈ 0.05 for the mean of 4; the
    // kernel without the concatenation's relu half (tanh only) is far outside that
    expect(fro(mean, r.ntk!)).toBeLessThan(0.09);
    const tanhOnly = limitKernels(compile(CONCAT.replace('concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)))', 'concat(tanh(W1 @ x / sqrt(d)), tanh(U1 @ x / sqrt(d)))'), 'c.ntk'), { width: ['m'] });
    expect(fro(tanhOnly.ntk!, r.ntk!)).toBeGreaterThan(0.1);
    expect(fro(mean, tanhOnly.ntk!)).toBeGreaterThan(fro(mean, r.ntk!));
  });
  it('concat checks its shapes and its axis', () => {
    const bad = (body: string) => () => compile(CONCAT.replace('concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)))', body), 'c.ntk');
    expect(bad('concat(tanh(W1 @ x / sqrt(d)))')).toThrow(/concat takes two or more arguments/);
    expect(bad('concat(W1, x)')).toThrow(/does not match/);
    expect(bad('concat(W1 @ x, U1 @ x, axis = 1)')).toThrow(/axis 1 is out of range/);
    // along axis 1 of matrices: [m, d] and [m, d] → [m, 2d]
    const m = compile(CONCAT.replace('let z = concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)))', 'let z = concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)), axis = -1)'), 'c.ntk');
    expect(m.outputShape).toEqual([5]);
  });
});

describe('several width dims (--width m,m2) going to infinity together', () => {
  it('a network with widths m and m2 = 3m has the kernels of the one with a single width (NTK parametrization), and m2 alone is refused', () => {
    const one = CONCAT.replace('concat(tanh(W1 @ x / sqrt(d)), relu(U1 @ x / sqrt(d)))', 'relu(U1 @ tanh(W1 @ x / sqrt(d)) / sqrt(m))').replace('param U1 : [m, d]', 'param U1 : [m, m]').replace('param W2 : [m, 2 * m]', 'param W2 : [m, m]').replace('/ sqrt(2 * m)', '/ sqrt(m)');
    const two = one.replace('dim n = 5, d = 2, m = 512', 'dim n = 5, d = 2, m = 64, m2 = 192').replace('param U1 : [m, m]', 'param U1 : [m2, m]').replace('param W2 : [m, m]', 'param W2 : [m, m2]').replace('W2 @ z / sqrt(m)', 'W2 @ z / sqrt(m2)');
    const a = limitKernels(compile(one, 'one.ntk'), { width: ['m'] });
    const b = limitKernels(compile(two, 'two.ntk'), { width: ['m', 'm2'] });
    expect(b.width).toEqual(['m', 'm2']);
    expect(maxRel(b.nngp!, a.nngp!)).toBeLessThan(1e-12);
    expect(maxRel(b.ntk!, a.ntk!)).toBeLessThan(1e-12);
    // m2 alone: m stays finite, and tanh(W1 x) is then not a Gaussian-process layer of width → ∞
    expect(() => limitKernels(compile(two, 'two.ntk'), { width: ['m2'] })).toThrow(NtkError);
  });
});

describe('--diag: the test kernels\' diagonals on many test points', () => {
  const src = `dim n = 6, nt = 45, d = 2, m = 64
data X : [n, d] = normal(0, 1, seed = 1)
data y : [n] = normal(0, 1, seed = 2)
data Xt : [nt, d] = normal(0, 1, seed = 3)
param W1 : [m, d] ~ normal(0, 1)
param b1 : [m] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z = tanh(W1 @ x / sqrt(d) + 0.2 * b1)
  return dot(v, relu(W2 @ z / sqrt(m))) / sqrt(m)
}
model h = f(X)
loss square(target = y)
test ht = f(Xt)
`;
  const model = compile(src, 'diag.ntk');
  const full = limitKernels(model, { width: ['m'] });
  const diag = limitKernels(model, { width: ['m'], testDiag: true, testChunk: 7 });
  it('the chunks give the same train and cross blocks and the diagonal of the full test blocks', () => {
    expect(diag.nngpTest).toBeNull();
    expect(diag.ntkTest).toBeNull();
    expect(diag.nTest).toBe(45);
    expect(diag.nngpCross!.length).toBe(45);
    expect(maxRel(diag.ntk!, full.ntk!)).toBeLessThan(1e-14);
    expect(maxRel(diag.nngpCross!, full.nngpCross!)).toBeLessThan(1e-13);
    expect(maxRel(diag.ntkCross!, full.ntkCross!)).toBeLessThan(1e-13);
    expect(maxRel([diag.nngpTestDiag!], [full.nngpTest!.map((r, i) => r[i]!)])).toBeLessThan(1e-13);
    expect(maxRel([diag.ntkTestDiag!], [full.ntkTest!.map((r, i) => r[i]!)])).toBeLessThan(1e-13);
  });
  it('as computed (limitKernelsDense, what --out writes): the same numbers bit for bit, one Float64Array per kernel', () => {
    for (const [opts, ref] of [[{}, full], [{ testDiag: true, testChunk: 7 }, diag]] as const) {
      const dense = limitKernelsDense(model, { width: ['m'], ...opts });
      for (const key of ['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest'] as const) {
        const K = dense[key], R = ref[key];
        if (!R) { expect(K ?? null).toBeNull(); continue; }
        expect(K!.data).toBeInstanceOf(Float64Array);
        expect([K!.rows, K!.cols]).toEqual([R.length, R[0]!.length]);
        expect(Array.from(K!.data)).toEqual(R.flat());
      }
      expect(nestedLimit(dense)).toEqual(ref);
    }
    // gpPredict takes either form, with the same numbers (what ntk predict passes it: the dense one)
    const y = squareTargets(model), dense = limitKernelsDense(model, { width: ['m'] });
    for (const kernel of ['ntk', 'nngp'] as const) {
      const a = gpPredict(dense, y, { t: 3, kernel }), b = gpPredict(full, y, { t: 3, kernel });
      expect(a).toEqual(b);
    }
  });
  it('gpPredict on the diagonals gives the full form\'s mean and variances', () => {
    const y = squareTargets(model);
    for (const kernel of ['ntk', 'nngp'] as const)
      for (const t of [2, Infinity]) {
        const a = gpPredict(diag, y, { t, kernel, diag: true }), b = gpPredict(full, y, { t, kernel });
        expect(a.cov).toBeNull();
        expect(maxRel([a.mean], [b.mean])).toBeLessThan(1e-11);
        expect(maxRel([a.variance], [b.variance])).toBeLessThan(1e-9);
      }
    // without --diag the covariance needs the block
    expect(() => gpPredict(diag, y, { t: 1 })).toThrow(/test × test block/);
  });
  it('ntk predict --diag --json: cov null, the same variances', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-diag-'));
    const file = join(dir, 'diag.ntk');
    writeFileSync(file, src);
    const r = await cli('predict', file, '--width', 'm', '--T', 'inf', '--diag', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.cov).toBeNull();
    expect(maxRel([j.variance], [gpPredict(full, squareTargets(model), { t: Infinity }).variance])).toBeLessThan(1e-9);
  });
});

describe('predict --plot (1-D inputs): mean ± 2σ with the training points', () => {
  const src = `dim n = 5, nt = 9, m = 64
data X : [n, 1] = [[-1.5], [-0.7], [0.1], [0.8], [1.6]]
data y : [n] = [0.3, -0.2, 0.5, 0.1, -0.4]
data Xt : [nt, 1] = [[2], [-2], [1.5], [-1.5], [1], [-1], [0.5], [-0.5], [0]]
param W1 : [m, 1] ~ normal(0, 1)
param b1 : [m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [1]) {
  return dot(v, erf(W1 @ x + 0.5 * b1)) / sqrt(m)
}
model h = f(X)
loss square(target = y)
test ht = f(Xt)
`;
  it('the spec: four series, the band 2σ around the mean, sorted test inputs, the training points', () => {
    const model = compile(src, 'p.ntk');
    const p = gpPredict(limitKernels(model, { width: ['m'] }), squareTargets(model), { t: Infinity });
    const xt = Array.from(model.data.find((d) => d.name === 'Xt')!.value);
    const spec = predictionPlotSpec({ title: 'p', xTrain: [-1.5, -0.7, 0.1, 0.8, 1.6], yTrain: [0.3, -0.2, 0.5, 0.1, -0.4], xTest: xt, mean: p.mean, variance: p.variance });
    expect(spec.series.map((s) => s.name)).toEqual(['mean', 'mean + 2σ', 'mean − 2σ', 'training points']);
    const [mean, hi, lo, pts] = spec.series;
    expect(mean!.x).toEqual([-2, -1.5, -1, -0.5, 0, 0.5, 1, 1.5, 2]);
    mean!.x.forEach((x, k) => {
      const i = xt.indexOf(x);
      expect(mean!.y[k]).toBe(p.mean[i]);
      expect(hi!.y[k]! - mean!.y[k]!).toBeCloseTo(2 * Math.sqrt(Math.max(p.variance[i]!, 0)), 12);
      expect(mean!.y[k]! - lo!.y[k]!).toBeCloseTo(2 * Math.sqrt(Math.max(p.variance[i]!, 0)), 12);
    });
    expect(hi!.style).toBe('dashed');
    expect(pts!.style).toBe('points');
    expect(pts!.y).toEqual([0.3, -0.2, 0.5, 0.1, -0.4]);
    // the interpolating NTK-GP: near zero variance between training points, larger outside them
    expect(hi!.y[0]! - lo!.y[0]!).toBeGreaterThan(hi!.y[4]! - lo!.y[4]!);
  });
  it('ntk predict --plot writes the SVG; inputs that are not 1-D are a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-plot-'));
    const file = join(dir, 'p.ntk');
    writeFileSync(file, src);
    const r = await cli('predict', file, '--width', 'm', '--T', 'inf', '--plot', join(dir, 'p.svg'));
    expect(r.code).toBe(0);
    const svg = readFileSync(join(dir, 'p.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    for (const s of ['mean + 2σ', 'training points']) expect(svg).toContain(s);
    const bad = await cli('predict', 'examples/limit-mlp.ntk', '--width', 'm', '--T', 'inf', '--plot', join(dir, 'q.svg'));
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--plot draws 1-D inputs/);
  });
});

describe('ntk limit --latex: the recursion as LaTeX', () => {
  it('an aligned block KaTeX typesets, with the registry\'s function names and no text symbols', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-tex-'));
    const file = join(dir, 'c.ntk');
    writeFileSync(file, CONCAT);
    const r = await cli('limit', file, '--width', 'm', '--latex');
    expect(r.code).toBe(0);
    const tex = /\\begin\{aligned\}[\s\S]*\\end\{aligned\}/.exec(r.stdout)![0];
    expect(() => katex.renderToString(tex, { throwOnError: true, displayMode: true })).not.toThrow();
    expect(tex).toContain('\\tanh\\left(');
    expect(tex).toContain('\\operatorname{erf}\\left(');
    expect(tex).toContain('\\oplus');
    expect(tex).toContain('m^{-1/2}');
    expect(tex).toMatch(/\\Sigma_\{3\}\(a,b\) = \\sigma\^2 \\textstyle\\sum_j x_\{1,j\}\(a\)/);
    expect(tex).not.toMatch(/[·Σσ²Θ⊕⟨⟩𝒦]/u);
    const j = JSON.parse((await cli('limit', file, '--width', 'm', '--latex', '--json')).stdout);
    expect(j.recursion.every((l: string) => l.includes('&='))).toBe(true);
  });
});

describe('the fast paths against their references', () => {
  it('the grid closed forms (one arcsine shared by E[relu relu] and E[step step]) equal the per-pair ones', () => {
    const N = 30, S = new Float64Array(N * N);
    const x = Array.from({ length: N }, (_, i) => [Math.sin(i), Math.cos(3 * i), 0.3 * i - 4]);
    for (let a = 0; a < N; a++) for (let b = a; b < N; b++) S[a * N + b] = (x[a]![0]! * x[b]![0]! + x[a]![1]! * x[b]![1]! + x[a]![2]! * x[b]![2]!) / 3;
    const v = Float64Array.from({ length: N }, (_, a) => S[a * N + a]!);
    const cache = new PairGridCache();
    for (const name of ['relu', 'step'] as const) {
      const f = atomFn(name);
      const g = pairGrid(f, f, v, v, S, { symmetric: true, upper: true, cache });
      expect(g.method).toBe('closed');
      const Sf = Array.from({ length: N }, (_, a) => Array.from({ length: N }, (_, b) => S[Math.min(a, b) * N + Math.max(a, b)]!));
      const ref = pairMat(f, f, Sf);
      for (let a = 0; a < N; a++) for (let b = a; b < N; b++) expect(Math.abs(g.value[a * N + b]! - ref[a]![b]!)).toBeLessThan(1e-14);
    }
    expect(cache.asin).not.toBeNull();
  });
  it('the Mehler grid (tanh, many variances) equals the 2-D quadrature to 1e-12 and reports its accuracy', () => {
    const N = 12, S = new Float64Array(N * N);
    const x = Array.from({ length: N }, (_, i) => [1.7 * Math.sin(i), Math.cos(2 * i), 0.2 * i - 2]);
    for (let a = 0; a < N; a++) for (let b = a; b < N; b++) S[a * N + b] = (x[a]![0]! * x[b]![0]! + x[a]![1]! * x[b]![1]! + x[a]![2]! * x[b]![2]!) / 2 + 0.05;
    const v = Float64Array.from({ length: N }, (_, a) => S[a * N + a]!);
    const tanh = fn('tanh', Math.tanh);
    const g = pairGrid(tanh, tanh, v, v, S, { symmetric: true, upper: true });
    const Sf = Array.from({ length: N }, (_, a) => Array.from({ length: N }, (_, b) => S[Math.min(a, b) * N + Math.max(a, b)]!));
    const ref = pairMat(tanh, tanh, Sf, { scheme: 'hermite' });
    let err = 0;
    for (let a = 0; a < N; a++) for (let b = a; b < N; b++) err = Math.max(err, Math.abs(g.value[a * N + b]! - ref[a]![b]!));
    expect(err).toBeLessThan(1e-12);
    expect(g.accuracy).toBeGreaterThan(0);
    expect(g.accuracy).toBeLessThan(1e-11);
  });
});

describe('accuracy of the closed forms: against converged quadrature through a depth-3 network', () => {
  const net = (act: string) => `dim n = 12, d = 8, m = 64
data X : [n, d] = normal(0, 1, seed = 1)
param W1 : [m, d] ~ normal(0, 1)
param b1 : [m] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param W3 : [m, m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = ${act}(W1 @ x / sqrt(d) + 0.1 * b1)
  let z2 = ${act}(W2 @ z1 / sqrt(m))
  let z3 = ${act}(W3 @ z2 / sqrt(m))
  return dot(v, z3) / sqrt(m)
}
model h = f(X)
`;
  // relu: closed forms against the polar quadrature split at the kink (measured 1.1e-14 on 40
  // inputs); erf: against the Mehler series at tol 1e-12 (measured 5e-13, the quadrature's own
  // reported accuracy): the bounds are the tolerance plus the rounding of three layers
  // square (u², Isserlis): against the Mehler series, exact after three terms
  for (const [act, bound] of [['relu', 1e-13], ['erf', 2e-12], ['square', 1e-12]] as const)
    it(`${act}: every entry of both kernels within ${bound} relative`, () => {
      const m = compile(net(act), `${act}.ntk`);
      const a = limitKernels(m, { width: ['m'] }), b = limitKernels(m, { width: ['m'], quadrature: true });
      expect(a.method.every((x) => x.method === 'closed')).toBe(true);
      expect(b.method.every((x) => x.method === 'quadrature')).toBe(true);
      for (const k of ['nngp', 'ntk'] as const) {
        expect(maxRel(a[k]!, b[k]!)).toBeLessThan(bound);
        expect(maxRel(a[k]!, b[k]!)).toBeLessThan(4 * b.accuracy / Math.max(...b[k]!.flat().map(Math.abs)) + 1e-13);
      }
    });
});

describe('kinks away from 0: split by the piecewise 2-D rule, never integrated across', () => {
  // References with the inner integral in closed form, so that only a 1-D integral is left:
  // u = √p·z1, v = a·z1 + b·z2, and for relu(v − c): E_z2[relu(μ + bZ)] = μΦ(μ/b) + bϕ(μ/b),
  // E_z2[step(μ + bZ)] = Φ(μ/b), μ = a·z1 − c; the outer integral over z1 by composite Simpson
  // on 2·10⁵ panels of [−12, 12] split at f's kink, each piece with its one-sided values (smooth on
  // each piece: error ~1e-14).
  const Phi = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
  const phi = (x: number) => Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI);
  function reference(p: number, c12: number, s: number, c: number, tangent: boolean): number {
    const sp = Math.sqrt(p), a = c12 / sp, b = Math.sqrt(s - a * a);
    // on the first piece (√p·z1 < c) both integrands vanish; on the second, their one-sided values
    let total = 0;
    for (const [lo, hi, on] of [[-12, c / sp, false], [c / sp, 12, true]] as const) {
      const outer = (z: number) => {
        if (!on) return 0;
        const mu = a * z - c;
        return tangent ? Phi(mu / b) : (sp * z - c) * (mu * Phi(mu / b) + b * phi(mu / b));
      };
      const n = 200_000, h = (hi - lo) / n;
      let acc = outer(lo) * phi(lo) + outer(hi) * phi(hi);
      for (let i = 1; i < n; i++) { const z = lo + i * h; acc += (i % 2 ? 4 : 2) * outer(z) * phi(z); }
      total += (acc * h) / 3;
    }
    return total;
  }
  const c = 0.5;
  // relu(x) = ½(x + x·sign x) and the step ½(1 + sign x), at x = u − c (relu is a composite of sign)
  const x = bin('sub', VAR, cst(c));
  const relu = toGaussFn(bin('mul', cst(0.5), bin('add', x, bin('mul', x, un('sign', x)))));
  const half = toGaussFn(bin('mul', cst(0.5), bin('add', cst(1), un('sign', x))));

  it('the scalar view finds the kink at c and none at 0', () => {
    expect(relu.kinks).toEqual([c]);
    expect(relu.kinkAtZero).toBe(false);
    expect(half.kinks).toEqual([c]);
    expect(toGaussFn(un('sign', VAR)).kinks).toBeUndefined();
  });

  it('E[relu(u − ½) relu(v − ½)] and P(u > ½, v > ½) against the 1-D references to 1e-11, with the accuracy reported', () => {
    const cases: [number, number, number][] = [[1, 0.5, 1], [2, -0.9, 0.7], [0.6, 0.59, 0.6], [1.3, 0, 2.2], [4, 3.9, 4]];
    const P = cases.length;
    const s11 = Float64Array.from(cases, (x) => x[0]), s12 = Float64Array.from(cases, (x) => x[1]), s22 = Float64Array.from(cases, (x) => x[2]);
    const E = pairExpectation(relu, relu, s11, s12, s22, { tol: 1e-12 });
    const T = pairExpectation(half, half, s11, s12, s22, { tol: 1e-12 });
    expect(E.method).toBe('quadrature');
    for (let i = 0; i < P; i++) {
      const [p, q, s] = cases[i]!;
      const re = reference(p, q, s, c, false), rt = reference(p, q, s, c, true);
      expect(Math.abs(E.value[i]! - re)).toBeLessThan(1e-11 * Math.max(1, Math.abs(re)));
      expect(Math.abs(T.value[i]! - rt)).toBeLessThan(1e-11);
    }
    expect(E.accuracy).toBeGreaterThan(0);
    expect(E.accuracy).toBeLessThan(1e-10);
    // the grid path (a symmetric covariance, upper triangle) gives the per-pair values
    const v = Float64Array.of(1, 2), S = Float64Array.of(1, 0.8, 0.8, 2);
    const g = pairGrid(relu, relu, v, v, S, { symmetric: true, tol: 1e-12 }).value;
    expect(Math.abs(g[1]! - reference(1, 0.8, 2, c, false))).toBeLessThan(1e-11);
    expect(g[2]).toBe(g[1]); // mirrored
    // the diagonal (ρ = 1) is 1-D: E[relu(u − ½)²] = (p + ¼)Φ(−½/√p) − ½√p ϕ(½/√p), at p = 2
    const d = Math.sqrt(2);
    expect(Math.abs(g[3]! - ((2 + 0.25) * Phi(-0.5 / d) - 0.5 * d * phi(0.5 / d)))).toBeLessThan(1e-12);
    // and the 1-D mean uses the kink too: E[relu(u − ½)] = √p ϕ(½/√p) − ½Φ(−½/√p)
    expect(Math.abs(expect1(relu, Float64Array.of(2)).value[0]! - (d * phi(0.5 / d) - 0.5 * Phi(-0.5 / d)))).toBeLessThan(1e-12);
  });

  it('ntk limit of relu(W x/√d − ½) and abs(sin(·)): kernels instead of a refusal; the NNGP equals the reference', () => {
    const src = (act: string) => `dim n = 4, d = 3, m = 64
data X : [n, d] = normal(0, 1, seed = 1)
param W1 : [m, d] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = ${act}
  return dot(v, z1) / sqrt(m)
}
model h = f(X)
`;
    const m = compile(src('relu(W1 @ x / sqrt(d) - 0.5)'), 'kink.ntk');
    const r = limitKernels(m, { width: ['m'] });
    const X = m.data.find((x) => x.name === 'X')!.value;
    const dot = (i: number, j: number) => (X[3 * i]! * X[3 * j]! + X[3 * i + 1]! * X[3 * j + 1]! + X[3 * i + 2]! * X[3 * j + 2]!) / 3;
    for (let i = 0; i < 4; i++)
      for (let j = i + 1; j < 4; j++) {
        // NNGP = E[relu(u − ½) relu(v − ½)] under Cov(u, v) = x·x′/d; NTK adds E[step step]·x·x′/d
        const ref = reference(dot(i, i), dot(i, j), dot(j, j), c, false);
        expect(Math.abs(r.nngp![i]![j]! - ref)).toBeLessThan(1e-10);
        const refT = ref + reference(dot(i, i), dot(i, j), dot(j, j), c, true) * dot(i, j);
        expect(Math.abs(r.ntk![i]![j]! - refT)).toBeLessThan(1e-10);
      }
    expect(r.method.every((x) => x.method === 'quadrature')).toBe(true);
    const periodic = limitKernels(compile(src('abs(sin(W1 @ x / sqrt(d)))'), 'kink2.ntk'), { width: ['m'] });
    expect(periodic.nngp!.flat().every(Number.isFinite)).toBe(true);
    expect(periodic.accuracy).toBeLessThan(1e-9);
    // a jump away from 0: the NNGP, and no NTK, saying where the δ is
    const jump = limitKernels(compile(src('sign(W1 @ x / sqrt(d) - 0.5)'), 'jump.ntk'), { width: ['m'] });
    expect(jump.ntk).toBeNull();
    expect(jump.ntkNote).toMatch(/jumps at u = 0\.5: its derivative has a δ there/);
    expect(jump.nngp!.flat().every(Number.isFinite)).toBe(true);
  });
});

describe('bad input', () => {
  const base = readFileSync('examples/limit-mlp.ntk', 'utf8');
  // (a --width naming no dim or sizing no weight, weights not centred: test/nth/limit.test.ts)
  it('data with NaN: a located error, never a NaN kernel', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ntk-nan-'));
    writeFileSync(join(dir, 'X.json'), JSON.stringify([[1, 2, 3], [0, 1, 0], [1, 0, 0], [0, 0, 1], [1, 1, 1], [2, 0, 1], [0, 2, 1], [1, 0, 2]]));
    const m = compile(base.replace('data X : [n, d] = normal(0, 1, seed = 1)', 'data X : [n, d] = load("X.json")'), join(dir, 'bad.ntk'));
    // a NaN in data that reaches the model (set here as a loader would not let it through)
    m.data.find((x) => x.name === 'X')!.value[23] = NaN;
    let err: unknown = null;
    try { limitKernels(m, { width: ['m'] }); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(NtkError);
    const d = (err as NtkError).diagnostics[0]!;
    expect(d.message).toMatch(/the data 'X' holds NaN at entry 23/);
    expect(d.span!.line).toBe(base.split('\n').findIndex((l) => l.startsWith('data X')) + 1);
  });
});
