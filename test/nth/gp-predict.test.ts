/**
 * Predictions of the trained infinite network (eqs. 25–30, 44–45) against direct linear algebra,
 * their t → 0 and t → ∞ limits, ill-conditioned kernels, the finite-width ensemble, and the CLI
 * (`ntk limit`, `ntk predict`: JSON keys, exit codes, located errors, --out files).
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Matrix, inverse } from 'ml-matrix';
import { describe, expect, it } from 'vitest';
import { compile, ensemblePredict, gpPredict, limitKernels, loadModel, squareTargets, NtkError, type LimitReport } from '../../src/index.ts';
import { ntk as cli } from '../cli/run-cli.ts';

const file = 'examples/limit-mlp.ntk';
const model = loadModel(file);
const lim = limitKernels(model, { width: ['m'] });
const y = squareTargets(model);
const M = (A: number[][]) => new Matrix(A);

/** mean and cov at t = ∞ by explicit inverses (ml-matrix), the reference. */
function direct(K: number[][], Kx: number[][], nngp: LimitReport) {
  const A = M(Kx).mmul(inverse(M(K)));
  const mean = A.mmul(Matrix.columnVector(Array.from(y))).to1DArray();
  const Kc = M(nngp.nngpCross!), KXX = M(nngp.nngp!), Ktt = M(nngp.nngpTest!);
  const cov = Ktt.sub(A.mmul(Kc.transpose())).sub(Kc.mmul(A.transpose())).add(A.mmul(KXX).mmul(A.transpose()));
  return { mean, cov: cov.to2DArray() };
}
const close = (a: number[], b: number[], tol: number) => a.forEach((x, i) => expect(Math.abs(x - b[i]!)).toBeLessThan(tol * (1 + Math.abs(b[i]!))));

describe('gpPredict', () => {
  it('the NTK-GP at t = ∞ (eqs. 29–30) equals the explicit-inverse formula', () => {
    const p = gpPredict(lim, y, { t: Infinity });
    const d = direct(lim.ntk!, lim.ntkCross!, lim);
    expect(p.t).toBe('inf');
    expect(p.kernel).toBe('ntk');
    close(p.mean, d.mean, 1e-10);
    close(p.cov!.flat(), d.cov.flat(), 1e-10);
    expect(p.condition).toBeGreaterThan(1);
    expect(p.warning).toBeUndefined();
  });
  it('the NNGP posterior at t = ∞ (eqs. 25–26, the corrected eq. 26)', () => {
    const p = gpPredict(lim, y, { t: Infinity, kernel: 'nngp' });
    const d = direct(lim.nngp!, lim.nngpCross!, lim);
    close(p.mean, d.mean, 1e-10);
    // 𝒦(x,x) − 𝒦(x,X)𝒦⁻¹𝒦(X,x)
    const post = M(lim.nngpTest!).sub(M(lim.nngpCross!).mmul(inverse(M(lim.nngp!))).mmul(M(lim.nngpCross!).transpose()));
    close(p.cov!.flat(), post.to2DArray().flat(), 1e-9);
  });
  it('at t = 0 the prior (mean 0, cov 𝒦(x,x)); large t approaches t = ∞; --diag gives the same variances', () => {
    const p0 = gpPredict(lim, y, { t: 0 });
    close(p0.mean, p0.mean.map(() => 0), 1e-15);
    close(p0.cov!.flat(), lim.nngpTest!.flat(), 1e-14);
    const big = gpPredict(lim, y, { t: 1e6 }), inf = gpPredict(lim, y, { t: Infinity });
    close(big.mean, inf.mean, 1e-9);
    const dg = gpPredict(lim, y, { t: 3, diag: true });
    expect(dg.cov).toBeNull();
    close(dg.variance, gpPredict(lim, y, { t: 3 }).variance, 1e-14);
  });
  it('finite t against the eigendecomposition-free formula Θ⁻¹(I − e^{−Θt}) by a Taylor series (small t)', () => {
    const t = 0.05, K = M(lim.ntk!), n = K.rows;
    // Θ⁻¹(I − e^{−Θt}) = Σ_{j≥1} (−1)^{j−1} Θ^{j−1} t^j / j!
    let term = Matrix.eye(n).mul(t), S = term.clone();
    for (let j = 2; j < 30; j++) { term = term.mmul(K).mul(-t / j); S = S.add(term); }
    const mean = M(lim.ntkCross!).mmul(S).mmul(Matrix.columnVector(Array.from(y))).to1DArray();
    close(gpPredict(lim, y, { t }).mean, mean, 1e-11);
  });
  it('an ill-conditioned kernel: a warning and --ridge, never NaN', () => {
    const src = readFileSync(file, 'utf8').replace('data X : [n, d] = normal(0, 1, seed = 1)', 'data X : [n, d] = [[1, 2, 3], [1, 2, 3], [0.5, -1, 2], [0.5, -1, 2], [2, 0, 1], [2, 0, 1], [1, 1, 1], [1, 1, 1]]');
    const m = compile(src, file);
    const l = limitKernels(m, { width: ['m'] });
    const p = gpPredict(l, squareTargets(m), { t: Infinity });
    expect(p.warning).toMatch(/ill-conditioned.*--ridge/);
    expect(p.mean.every(Number.isFinite)).toBe(true);
    expect(p.variance.every(Number.isFinite)).toBe(true);
    const r = gpPredict(l, squareTargets(m), { t: Infinity, ridge: 1e-3 });
    expect(r.condition).toBeLessThan(1e6);
    expect(r.mean.every(Number.isFinite)).toBe(true);
  });
  it('another loss is a located error: the closed forms need the square loss', () => {
    const m = compile(readFileSync(file, 'utf8').replace('loss square(target = y)', 'loss R(v) = sum((v - y)^4)'), file);
    expect(() => squareTargets(m)).toThrow(NtkError);
    const line = readFileSync(file, 'utf8').split('\n').findIndex((l) => l.startsWith('loss')) + 1;
    try { squareTargets(m); } catch (e) { expect((e as NtkError).diagnostics[0]!.span?.line).toBe(line); }
  });
});

describe('the finite-width ensemble (eq. 19 over initializations)', () => {
  it('its mean and variance approach the NTK-GP as the width grows', () => {
    const gp = gpPredict(lim, y, { t: Infinity });
    const at = (m: number) => ensemblePredict({ t: Infinity, seeds: 6, modelAt: (s) => loadModel(file, { seed: s, overrides: new Map([['m', m]]) }) });
    const small = at(16), wide = at(256);
    expect(wide.seeds).toBe(6);
    const dist = (e: typeof wide) => Math.sqrt(e.mean.reduce((s, x, i) => s + (x - gp.mean[i]!) ** 2, 0));
    const sd = Math.sqrt(gp.variance.reduce((s, v) => s + v, 0) / 6);
    // the ensemble mean is within ~3 standard errors of the GP mean at width 256, and closer than at width 16
    expect(dist(wide)).toBeLessThan(3 * sd + 0.1);
    expect(dist(wide)).toBeLessThan(dist(small));
    expect(wide.cov.length).toBe(4);
  });
});

describe('ntk limit and ntk predict', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ntk-limit-'));
  it('limit --json has the documented keys; --out writes one .npy per kernel, the JSON naming them instead', async () => {
    const r = await cli('limit', file, '--width', 'm', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    for (const k of ['width', 'nngp', 'ntk', 'nngpGrowth', 'ntkGrowth', 'outputs', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest', 'method', 'accuracy', 'recursion'])
      expect(j).toHaveProperty(k);
    expect(j.ntk).toEqual(lim.ntk);
    const o = JSON.parse((await cli('limit', file, '--width', 'm', '--json', '--out', join(dir, 'K.npy'))).stdout);
    expect(o).not.toHaveProperty('ntk');
    expect(o.accuracy).toBe(j.accuracy);
    expect(o.files.map((f: { path: string }) => f.path)).toEqual(['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest'].map((k) => join(dir, `K.${k}.npy`)));
    const bytes = readFileSync(join(dir, 'K.ntk.npy'));
    const data = new Float64Array(bytes.buffer.slice(bytes.byteOffset + 128, bytes.byteOffset + bytes.length));
    expect(Array.from(data)).toEqual(lim.ntk!.flat());
    const csv = await cli('limit', file, '--width', 'm', '--out', join(dir, 'K.csv'));
    expect(csv.code).toBe(0);
    expect(readFileSync(join(dir, 'K.nngp.csv'), 'utf8').split('\n')[0]!.split(',').map(Number)).toEqual(lim.nngp![0]);
  });
  it('limit --latex prints the recursion as LaTeX', async () => {
    const r = await cli('limit', file, '--width', 'm', '--latex');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/\\Theta/);
  });
  it('predict --json: t, mean, cov, kernel', async () => {
    const r = await cli('predict', file, '--width', 'm', '--T', 'inf', '--json');
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.t).toBe('inf');
    expect(j.kernel).toBe('ntk');
    expect(j.mean).toEqual(gpPredict(lim, y, { t: Infinity }).mean);
    expect(j.cov.length).toBe(4);
  });
  it('usage errors exit 2; model errors exit 1 with file:line:col', async () => {
    expect((await cli('limit', file, '--width', 'q')).code).toBe(2);
    expect((await cli('limit', file)).code).toBe(2);
    expect((await cli('predict', file, '--width', 'm')).code).toBe(2);
    expect((await cli('predict', file, '--width', 'm', '--T', '-1')).code).toBe(2);
    expect((await cli('limit', file, '--width', 'm', '--out', 'K.txt')).code).toBe(2);
    const bad = join(dir, 'reuse.ntk');
    writeFileSync(bad, readFileSync(file, 'utf8').replace('sw * (W2 @ relu(z1)) / sqrt(m)', 'sw * (W2 @ relu(W2 @ relu(z1) / sqrt(m))) / sqrt(m)'));
    const r = await cli('limit', bad, '--width', 'm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/reuse\.ntk:17:\d+: error: infinite-width limit: the weight W2 is used in two products/);
    expect(r.stderr).not.toMatch(/at .*\.ts:\d+/); // no stack trace
  });
});
