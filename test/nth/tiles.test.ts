/**
 * Tiles of the NTK (nth/tiles.ts) and the rows of the Jacobian they are computed from: every
 * tile against the same block of the whole kernel J·Jᵀ, on a row-separable model (one-row
 * backward passes) and on a model whose outputs mix the rows (whole-model passes).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { compile, loadModel } from '../../src/ir/load.ts';
import { Evaluator } from '../../src/evaluator/evaluator.ts';
import { ntkFromJacobian } from '../../src/linalg/dense.ts';
import { kernelTile, tileRange, upperTiles, writeKernelTiles } from '../../src/nth/tiles.ts';
import { loadArray } from '../../src/io/data.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'ntk-tiles-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const mlp = () => loadModel('examples/mlp-tanh.ntk', { overrides: new Map([['n', 11], ['d', 3], ['m', 6]]) });
/** Outputs that mix the rows (A @ f(X)): not row-separable, the dense path. */
const mixing = () =>
  compile(
    `dim n = 10, d = 2, m = 4
data X : [n, d] = normal(0, 1, seed = 1)
data A : [n, n] = normal(0, 1, seed = 2)
param W : [m, d] ~ normal(0, 1)
param a : [m] ~ normal(0, 1)
def f(x : [d]) = dot(a, tanh(W @ x))
model h = A @ f(X)`,
    'mixing.ntk',
  );

const maxAbs = (x: Float64Array) => x.reduce((s, v) => Math.max(s, Math.abs(v)), 0);

describe('tileRange and upperTiles', () => {
  it('cut 0..k into B contiguous blocks of sizes differing by at most one', () => {
    for (const [k, B] of [[10, 3], [7, 7], [4096, 2], [5, 1]] as const) {
      const ranges = Array.from({ length: B }, (_, i) => tileRange(k, B, i));
      expect(ranges[0]![0]).toBe(0);
      expect(ranges[B - 1]![1]).toBe(k);
      for (let i = 1; i < B; i++) expect(ranges[i]![0]).toBe(ranges[i - 1]![1]);
      const sizes = ranges.map(([a, b]) => b - a);
      expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
    }
    expect(upperTiles(3)).toEqual([[0, 0], [0, 1], [0, 2], [1, 1], [1, 2], [2, 2]]);
    expect(() => tileRange(10, 3, 3)).toThrow(/out of range 0..2/);
    expect(() => tileRange(3, 4, 0)).toThrow(/from 1 to k = 3/);
  });
});

describe.each([
  ['row-separable (one-row passes)', mlp],
  ['outputs mixing the rows (whole-model passes)', mixing],
])('on a model with %s', (_name, make) => {
  const m = make();
  const ev = new Evaluator(m);
  const { k, p } = ev;
  const J = ev.jacobian(m.w0);
  const K = ntkFromJacobian(ev, J);

  it('the Jacobian rows r0..r1 are those rows of the whole Jacobian', () => {
    for (const [r0, r1] of [[0, k], [3, 7], [k - 1, k], [2, 2]] as const) {
      const rows = ev.jacobian(m.w0, { rows: [r0, r1] });
      expect(rows.length).toBe((r1 - r0) * p);
      const ref = J.subarray(r0 * p, r1 * p);
      for (let i = 0; i < rows.length; i++) expect(Math.abs(rows[i]! - ref[i]!)).toBeLessThanOrEqual(1e-14 * Math.max(1, maxAbs(ref)));
      // forward mode computes the whole Jacobian and copies the rows out
      const fwd = ev.jacobian(m.w0, { rows: [r0, r1], mode: 'forward' });
      for (let i = 0; i < fwd.length; i++) expect(Math.abs(fwd[i]! - ref[i]!)).toBeLessThanOrEqual(1e-13 * Math.max(1, maxAbs(ref)));
    }
    expect(() => ev.jacobian(m.w0, { rows: [3, k + 1] })).toThrow(/not a range of 0..10|not a range of 0..11/);
  });

  it('every tile (i ≤ j) is its block of K = J·Jᵀ; diagonal tiles exactly symmetric', () => {
    const B = 3;
    for (const [i, j] of upperTiles(B)) {
      const t = kernelTile(ev, m.w0, B, i, j);
      const [r0, r1] = tileRange(k, B, i), [c0, c1] = tileRange(k, B, j);
      expect(t.rows).toEqual([r0, r1]);
      expect(t.cols).toEqual([c0, c1]);
      const nc = c1 - c0;
      for (let r = r0; r < r1; r++)
        for (let c = c0; c < c1; c++) expect(Math.abs(t.data[(r - r0) * nc + c - c0]! - K[r * k + c]!)).toBeLessThanOrEqual(1e-13 * maxAbs(K));
      if (i === j) for (let a = 0; a < r1 - r0; a++) for (let b = 0; b < r1 - r0; b++) expect(t.data[a * nc + b]).toBe(t.data[b * nc + a]);
    }
    expect(() => kernelTile(ev, m.w0, B, 2, 1)).toThrow(/below the diagonal/);
  });

  it('writeKernelTiles writes the whole symmetric K into a .npy, for several B', () => {
    for (const B of [1, 2, 4]) {
      const file = path.join(dir, `${m.file.replace(/\W/g, '')}-${B}.npy`);
      const r = writeKernelTiles(ev, m.w0, B, file);
      expect(r).toEqual({ shape: [k, k], tiles: (B * (B + 1)) / 2 });
      const got = loadArray(file);
      expect(got.shape).toEqual([k, k]);
      for (let a = 0; a < k; a++)
        for (let b = 0; b < k; b++) {
          expect(got.data[a * k + b]).toBe(got.data[b * k + a]);
          expect(Math.abs(got.data[a * k + b]! - K[a * k + b]!)).toBeLessThanOrEqual(1e-13 * maxAbs(K));
        }
    }
  });
});
