/**
 * The NTK by Gram products (nth/gram.ts) against the Jacobian's J·Jᵀ (dense passes, and the
 * tiles of nth/tiles.ts) on row-separable models of several kinds: depth 1–3, biases, tanh /
 * relu / erf, shared and transposed-shared weights, stacked weights used by slices, several
 * outputs per row, learning rates, a parameter the rule does not cover (explicit gradients);
 * panels and factor blocks across their boundaries; K streamed to a .npy file; and a model that
 * is not row-separable, which never takes the path.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { compile, evaluator, kernel, loadModel, ntk, withRates, kernelTile, writeKernelTiles, tileCost, NpyWriter, gramNtk, gramStructure } from '../../src/index.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import { parseNpy } from '../../src/io/data.ts';
import { ntk as ntkOf } from '../../src/nth/ntk.ts';
import { relErr } from '../helpers.ts';

const head = (n: number, d: number, m: number) => `dim n = ${n}, d = ${d}, m = ${m}
data X : [n, d] = normal(0, 1, seed = 3)
`;

const MODELS: [name: string, src: string, factored: string[], explicit: string[]][] = [
  ['depth 1, tanh, bias', `${head(11, 3, 7)}param W : [m, d] ~ normal(0, 1)
param b : [m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) = dot(v, tanh(W @ x + b)) / sqrt(m)
model h = f(X)`, ['W'], ['b', 'v']],
  ['depth 2, relu, biases', `${head(13, 4, 9)}param W1 : [m, d] ~ normal(0, 1)
param b1 : [m] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param b2 : [m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = relu(W1 @ x / sqrt(d) + b1)
  let z2 = relu(W2 @ z1 / sqrt(m) + b2)
  return dot(v, z2) / sqrt(m)
}
model h = f(X)`, ['W1', 'W2'], ['b1', 'b2', 'v']],
  ['depth 3, erf, readout as a matrix product', `${head(10, 2, 6)}param W1 : [m, d] ~ normal(0, 1)
param W2 : [m, m] ~ normal(0, 1)
param W3 : [m, m] ~ normal(0, 1)
param V : [1, m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = erf(W1 @ x)
  let z2 = erf(W2 @ z1 / sqrt(m))
  let z3 = erf(W3 @ z2 / sqrt(m))
  return V @ z3 / sqrt(m)
}
model h = f(X)`, ['W1', 'W2', 'W3', 'V'], []],
  ['shared weights (W twice), and W against its transpose', `${head(9, 5, 5)}param W : [m, m] ~ normal(0, 1)
param U : [m, m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = tanh(W @ x / sqrt(m))
  let z2 = tanh(W @ z1 / sqrt(m))
  let z3 = tanh(U @ z2 / sqrt(m) + transpose(U) @ z1 / sqrt(m))
  return dot(v, z3)
}
model h = f(X)`, ['W', 'U'], ['v']],
  ['several outputs per row', `dim n = 8, d = 3, m = 6, c = 3
data X : [n, d] = normal(0, 1, seed = 3)
param W : [m, d] ~ normal(0, 1)
param V : [c, m] ~ normal(0, 1)
def f(x : [d]) = V @ tanh(W @ x) / sqrt(m)
model h = f(X)`, ['W', 'V'], []],
  ['a parameter used elementwise (explicit gradients)', `${head(12, 3, 8)}param W : [m, d] ~ normal(0, 1)
param S : [m, m] ~ normal(0, 1)
param v : [m] ~ normal(0, 1)
def f(x : [d]) {
  let z1 = tanh(W @ x)
  let z2 = tanh((S * S) @ z1 / m)
  return dot(v, z2)
}
model h = f(X)`, ['W'], ['S', 'v']],
];

/** J·Jᵀ by whole-model passes: the reference. */
const reference = (ev: Evaluator) => ntkFromJacobian(ev, ev.jacobian(ev.model.w0, { structure: 'dense' }));

describe('the NTK by Gram products equals J·Jᵀ', () => {
  it.each(MODELS)('%s', (_name, src, factored, explicit) => {
    const m = compile(src, 'gram.ntk');
    const s = gramStructure(m)!;
    expect(s.factored).toEqual(factored);
    expect(s.explicit).toEqual(explicit);
    const ev = new Evaluator(m);
    expect(s.width).toBeLessThan(ev.p);
    const ref = reference(ev);
    const { k } = ev;
    for (const opts of [{}, { panelRows: 4, blockSize: 3 }, { panelRows: 1, blockSize: 1 }]) {
      const K = gramNtk(ev, m.w0, opts).data!;
      expect(relErr(K, ref)).toBeLessThan(1e-12);
      for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) expect(K[a * k + b]).toBe(K[b * k + a]); // exactly symmetric
    }
    // and against the tiles of the Jacobian's rows (nth/tiles.ts): K[I0, I1]
    const K = gramNtk(ev, m.w0).data!;
    const t = kernelTile(ev, m.w0, 2, 0, 1);
    const nc = t.cols[1] - t.cols[0];
    const block = new Float64Array(t.data.length);
    for (let r = t.rows[0]; r < t.rows[1]; r++) for (let c = t.cols[0]; c < t.cols[1]; c++) block[(r - t.rows[0]) * nc + c - t.cols[0]] = K[r * k + c]!;
    expect(relErr(block, t.data)).toBeLessThan(1e-12);
    // the tiles by Gram factors (what a large kernel's --tiles take): every tile of 3 × 3 blocks is its block of K
    const gramCost = tileCost(m, k, ev.p, 'gram');
    expect(gramCost).toEqual({ by: 'gram', width: s.width, scratch: 2 });
    expect(tileCost(m, k, ev.p).by).toBe('jacobian'); // small: the Jacobian's rows, as before
    for (const [i, j] of [[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]] as const) {
      const g = kernelTile(ev, m.w0, 3, i, j, { cost: gramCost });
      const n2 = g.cols[1] - g.cols[0];
      const ref2 = new Float64Array(g.data.length);
      for (let r = g.rows[0]; r < g.rows[1]; r++) for (let c = g.cols[0]; c < g.cols[1]; c++) ref2[(r - g.rows[0]) * n2 + c - g.cols[0]] = K[r * k + c]!;
      expect(relErr(g.data, ref2), `tile ${i},${j}`).toBeLessThan(1e-12);
      if (i === j) for (let a = 0; a < n2; a++) for (let b = 0; b < a; b++) expect(g.data[a * n2 + b]).toBe(g.data[b * n2 + a]);
    }
    // kernel(…, 'gram') is this kernel and says so
    const viaKernel = kernel(m, 2, { structure: 'gram' });
    expect(viaKernel.structure).toBe('gram');
    expect(viaKernel.gram!.factored).toEqual(factored);
    expect(relErr(viaKernel.data, ref)).toBeLessThan(1e-12);
  });

  it('the example models: stacked weights used by slices (deep.ntk), the 2-hidden-layer MLP, the mean-field network', () => {
    for (const file of ['examples/deep.ntk', 'examples/mlp-tanh.ntk', 'examples/meanfield.ntk']) {
      const m = loadModel(file);
      const ev = new Evaluator(m);
      const K = gramNtk(ev, m.w0, { panelRows: 5 }).data!;
      expect(relErr(K, reference(ev)), file).toBeLessThan(1e-12);
    }
    expect(gramStructure(loadModel('examples/deep.ntk'))!.factored).toEqual(['W1', 'W']);
  });

  it('writeKernelTiles by Gram factors: the whole K in a .npy, equal to the kernel; a non-finite entry is named by its place in K', () => {
    const m = compile(MODELS[1]![1], 'gram.ntk');
    const ev = new Evaluator(m);
    const { k } = ev, K = gramNtk(ev, m.w0).data!;
    const dir = mkdtempSync(join(tmpdir(), 'ntk-gram-tiles-'));
    try {
      for (const B of [1, 2, 5]) {
        const file = join(dir, `K${B}.npy`);
        writeKernelTiles(ev, m.w0, B, file, { cost: tileCost(m, k, ev.p, 'gram') });
        const got = parseNpy(readFileSync(file), file);
        expect(got.shape).toEqual([k, k]);
        expect(relErr(got.data, K), `B = ${B}`).toBeLessThan(1e-12);
        for (let a = 0; a < k; a++) for (let b = 0; b < a; b++) expect(got.data[a * k + b]).toBe(got.data[b * k + a]);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // an overflowing input row: the entry is reported at its (row, column) of K, not of the tile
    const big = compile(MODELS[0]![1], 'gram.ntk');
    const evb = new Evaluator(big);
    const w = Float64Array.from(big.w0);
    const v = big.params.find((q) => q.name === 'v')!;
    w.fill(1e300, v.offset, v.offset + v.size);
    const cost = tileCost(big, evb.k, evb.p, 'gram');
    let message = '';
    try { kernelTile(evb, w, 3, 1, 2, { cost }); } catch (e) { message = (e as Error).message; }
    const idx = Number(/non-finite entry \(\S+ at entry (\d+)\)/.exec(message)?.[1]);
    // tile (1, 2) of 3: rows [⌊k/3⌋, ⌊2k/3⌋), columns [⌊2k/3⌋, k)
    expect(Math.floor(idx / evb.k)).toBeGreaterThanOrEqual(Math.floor(evb.k / 3));
    expect(Math.floor(idx / evb.k)).toBeLessThan(Math.floor((2 * evb.k) / 3));
    expect(idx % evb.k).toBeGreaterThanOrEqual(Math.floor((2 * evb.k) / 3));
  });

  it('learning rates (√η·P in the graph) scale the factored terms', () => {
    const m = withRates(loadModel('examples/mlp-tanh.ntk'), { W1: 0.5, W2: 2, a: 1 });
    expect(gramStructure(m)!.factored).toEqual(['W1', 'W2']);
    const ev = new Evaluator(m);
    expect(relErr(gramNtk(ev, m.w0).data!, reference(ev))).toBeLessThan(1e-12);
  });

  it('streams K to a .npy file panel by panel: the same bits as the kernel held in memory', () => {
    const m = compile(MODELS[1]![1], 'gram.ntk');
    const ev = new Evaluator(m);
    const K = gramNtk(ev, m.w0, { panelRows: 3 }).data!;
    const dir = mkdtempSync(join(tmpdir(), 'ntk-gram-'));
    try {
      const path = join(dir, 'K.npy');
      const w = NpyWriter.create(path, [ev.k, ev.k]);
      const r = gramNtk(ev, m.w0, { panelRows: 3, out: w });
      w.commit();
      expect(r.data).toBeNull();
      const back = parseNpy(readFileSync(path), path);
      expect(back.shape).toEqual([ev.k, ev.k]);
      expect(Array.from(back.data)).toEqual(Array.from(K));
      let trace = 0, fro = 0, max = 0;
      for (let a = 0; a < ev.k; a++) trace += K[a * ev.k + a]!;
      for (const x of K) (fro += x * x), (max = Math.max(max, Math.abs(x)));
      expect(r.stats.trace).toBeCloseTo(trace, 12);
      expect(r.stats.frobenius).toBeCloseTo(Math.sqrt(fro), 12);
      expect(r.stats.maxAbs).toBe(max);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('which models take the path', () => {
  it("'auto' takes it for a large separable NTK (the 271k MLP), and `ntk` and the studies' K(w) with it", () => {
    const m = loadModel('examples/mlp.ntk');
    const K = kernel(m, 2);
    expect(K.structure).toBe('gram');
    expect(K.gram).toEqual({ factored: ['W1', 'W2'], explicit: ['a'], width: 512 + 16 + 512 + 512 + 512, terms: 3 });
    expect(Array.from(ntk(m).data)).toEqual(Array.from(K.data));
    expect(Array.from(ntkOf(evaluator(m), m.w0))).toEqual(Array.from(K.data));
    // against J·Jᵀ on a few rows (the whole Jacobian is 256 × 271k)
    const ev = evaluator(m);
    const t = kernelTile(ev, m.w0, 16, 3, 11);
    const nc = t.cols[1] - t.cols[0];
    const block = new Float64Array(t.data.length);
    for (let r = t.rows[0]; r < t.rows[1]; r++) for (let c = t.cols[0]; c < t.cols[1]; c++) block[(r - t.rows[0]) * nc + c - t.cols[0]] = K.data[r * ev.k + c]!;
    expect(relErr(block, t.data)).toBeLessThan(1e-12);
  });

  it('small kernels keep the Jacobian (auto), as before', () => {
    expect(kernel(loadModel('examples/deep.ntk'), 2).structure).toBe('dense');
  });

  it('a model that is not row-separable never takes it; asking for it is a usage error', () => {
    const m = compile(`dim n = 6, d = 2, m = 4
data X : [n, d] = normal(0, 1, seed = 1)
param W : [m, d] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) = dot(a, tanh(W @ x))
model h = f(X) + sum(f(X)) / n`, 'ns.ntk');
    expect(gramStructure(m)).toBeNull();
    expect(kernel(m, 2).structure).not.toBe('gram');
    expect(() => kernel(m, 2, { structure: 'gram' })).toThrow(/not row-separable/);
    expect(() => kernel(loadModel('examples/mlp-tanh.ntk'), 3, { structure: 'gram' })).toThrow(/order 2/);
  });

  it('a model where nothing is a matrix-vector product has no Gram form', () => {
    const m = compile(`dim n = 5, d = 3
data X : [n, d] = normal(0, 1, seed = 1)
param w : [d] ~ normal(0, 1)
def f(x : [d]) = sum(tanh(w * x))
model h = f(X)`, 'ew.ntk');
    expect(gramStructure(m)).toBeNull();
  });
});

describe('kernel --out: K to a .npy file (kernelFileReport), streamed on the Gram path', () => {
  it('the Gram path streams the file; the Jacobian path and a slice of K^(3) write theirs whole; all equal the kernel', async () => {
    const { ntk: cli } = await import('../cli/run-cli.ts');
    const dir = mkdtempSync(join(tmpdir(), 'ntk-gram-cli-'));
    try {
      const read = (f: string) => parseNpy(readFileSync(join(dir, f)), f);
      const big = await cli('kernel', 'examples/mlp.ntk', '--out', join(dir, 'K.npy'), '--json');
      expect(big.code).toBe(0);
      const j = JSON.parse(big.stdout);
      expect(j.structure).toBe('gram');
      expect(j.gram.factored).toEqual(['W1', 'W2']);
      expect(j.K).toBeUndefined();
      const K = read('K.npy');
      expect(K.shape).toEqual([256, 256]);
      expect(Array.from(K.data)).toEqual(Array.from(kernel(loadModel('examples/mlp.ntk'), 2).data));
      const small = await cli('kernel', 'examples/deep.ntk', '--out', join(dir, 'D.npy'));
      expect(small.stdout).toMatch(/computed by\s+whole-model passes/);
      expect(small.stdout).toMatch(/written\s+.*D\.npy \(8 × 8, float64\)/);
      expect(Array.from(read('D.npy').data)).toEqual(Array.from(kernel(loadModel('examples/deep.ntk'), 2).data));
      const sl = await cli('kernel', 'examples/deep.ntk', '--order', '3', '--slice', '1', '--out', join(dir, 'S.npy'), '--json');
      expect(JSON.parse(sl.stdout).shape).toEqual([8, 8]);
      expect(relErr(read('S.npy').data, kernel(loadModel('examples/deep.ntk'), 3, { slice: [1] }).data)).toBe(0);
      const forced = await cli('kernel', 'examples/deep.ntk', '--structure', 'gram', '--out', join(dir, 'G.npy'));
      expect(forced.stdout).toMatch(/computed by\s+Gram products/);
      expect(relErr(read('G.npy').data, read('D.npy').data)).toBeLessThan(1e-12);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
