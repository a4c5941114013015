/**
 * Tiles of the NTK: with the k outputs cut into B contiguous blocks I_0, …, I_{B−1}, tile (i, j)
 * is the block K[I_i, I_j] = Dh_{I_i}·Dh_{I_j}ᵀ of K = Dh·Dhᵀ (MATH.md §1), computed from the
 * rows I_i and I_j of the Jacobian alone — never the whole Jacobian or the whole kernel. K is
 * symmetric, so only the tiles i ≤ j are computed; tile (j, i) is the transpose of (i, j).
 * A cluster computes the B(B+1)/2 tiles as independent tasks and merges them into one `.npy`
 * (`cluster/plan.ts`).
 *
 * A tile is computed from its rows' and columns' Jacobian rows (p values per output), or — for a
 * row-separable model where the whole NTK would take the Gram path — from their Gram factors
 * (`gramTile`: W values per output, W ≪ p for an MLP: 4,128 against 1.08M for W4's), the same
 * rule for every tile of a kernel (`tileCost`), so a cluster's tiles agree with each other.
 */
import type { Evaluator } from '../evaluator/evaluator.ts';
import type { Model } from '../ir/model.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { fmtBytes, MemoryError, resultLimit } from '../runtime/memory.ts';
import { NpyWriter } from '../io/npy.ts';
import { gramStructure, gramTile } from './gram.ts';
import { STRUCTURED_K2_FLOPS } from './memory.ts';

/**
 * How the tiles of a model's NTK are computed and what each costs: `width` values per output
 * row (a Jacobian row's p, or the Gram factors' W) and `scratch` arrays of the tile's size
 * besides the tile (the Gram path's two Hadamard operands).
 */
export interface TileCost { by: 'jacobian' | 'gram'; width: number; scratch: number }

/**
 * The tiles' method for a model with k outputs and p parameters: Gram factors when the model is
 * row-separable with factors narrower than the Jacobian and the kernel is large (2k²p above
 * STRUCTURED_K2_FLOPS, the whole kernel's rule), or when `structure` is 'gram'; else Jacobian rows.
 * @example tileCost(loadModel('w4.ntk'), 4096, 1_082_368) // { by: 'gram', width: 4128, scratch: 2 }
 */
export function tileCost(m: Model, k: number, p: number, structure: 'auto' | 'gram' | 'jacobian' = 'auto'): TileCost {
  const g = structure === 'jacobian' ? null : gramStructure(m);
  if (structure === 'gram' && !g) throw new RangeError('--structure gram: the model is not row-separable with a weight used as a matrix-vector product');
  if (g && (structure === 'gram' || (g.width < p && 2 * k * k * p > STRUCTURED_K2_FLOPS))) return { by: 'gram', width: g.width, scratch: 2 };
  return { by: 'jacobian', width: p, scratch: 0 };
}

/**
 * Bytes to compute an ni × nj tile: its rows' (and, off the diagonal, columns') `width` values,
 * the tile and its scratch: 8·((ni + nj)·width + (1 + scratch)·ni·nj).
 * @example tileBytes({ by: 'gram', width: 4128, scratch: 2 }, 241, 241, false) // 17311512 (16.5 MB)
 */
export function tileBytes(cost: TileCost, ni: number, nj: number, diagonal: boolean): number {
  return 8 * ((diagonal ? ni : ni + nj) * cost.width + (1 + cost.scratch) * ni * nj);
}

/**
 * The outputs of block i of B: [⌊i·k/B⌋, ⌊(i+1)·k/B⌋), so that sizes differ by at most one.
 * @example tileRange(10, 3, 1) // [3, 6]
 */
export function tileRange(k: number, B: number, i: number): [number, number] {
  if (!(Number.isInteger(B) && B >= 1 && B <= Math.max(1, k))) throw new RangeError(`--tiles ${B}: expected an integer from 1 to k = ${k}`);
  if (!(Number.isInteger(i) && i >= 0 && i < B)) throw new RangeError(`tile index ${i} is out of range 0..${B - 1}`);
  return [Math.floor((i * k) / B), Math.floor(((i + 1) * k) / B)];
}

/**
 * The tiles (i, j), i ≤ j, of B blocks, in row-major order of the upper triangle: B(B+1)/2 of
 * them, which give all of K since K is symmetric (tile (j, i) = tile (i, j)ᵀ).
 * @example upperTiles(3) // [[0,0], [0,1], [0,2], [1,1], [1,2], [2,2]]
 */
export function upperTiles(B: number): [number, number][] {
  const out: [number, number][] = [];
  for (let i = 0; i < B; i++) for (let j = i; j < B; j++) out.push([i, j]);
  return out;
}

/** One tile: rows [r0, r1) and columns [c0, c1) of K, row-major (r1 − r0)×(c1 − c0). */
export interface KernelTile {
  rows: [number, number];
  cols: [number, number];
  data: Float64Array;
}

/**
 * Tile (i, j), i ≤ j, of the NTK at w: K[I_i, I_j] = J_I·J_Jᵀ where J_I are the rows I_i of the
 * Jacobian (`Evaluator.jacobian` with `rows`), or the same block from the rows' Gram factors
 * (`gramTile`) when `tileCost` says so (`cost`, default the model's). A diagonal tile is
 * exactly symmetric (upper-triangle GEMMs or syrk, mirrored); an off-diagonal one is one GEMM per
 * product. Memory: `tileBytes`.
 *
 * @example const T = kernelTile(evaluator(model), model.w0, 2, 0, 1); // K[0:k/2, k/2:k]
 */
export function kernelTile(ev: Evaluator, w: Float64Array, B: number, i: number, j: number, opts: { onProgress?: (done: number, total: number) => void; cost?: TileCost } = {}): KernelTile {
  const { k, p } = ev;
  const rows = tileRange(k, B, i), cols = tileRange(k, B, j);
  if (i > j) throw new RangeError(`tile ${i},${j} is below the diagonal: K is symmetric, compute tile ${j},${i} (its transpose)`);
  const ni = rows[1] - rows[0], nj = cols[1] - cols[0];
  const cost = opts.cost ?? tileCost(ev.model, k, p);
  checkTile(`tile ${i},${j}`, ni, nj, i === j, k, cost);
  if (cost.by === 'gram') return { rows, cols, data: gramTile(ev, w, rows, cols, opts) };
  const total = i === j ? ni : ni + nj;
  const JI = ev.jacobian(w, { rows, mode: 'reverse', onProgress: (d) => opts.onProgress?.(d, total) });
  if (i === j) return { rows, cols, data: ntkFromJacobian(ev, JI, ni) };
  const JJ = ev.jacobian(w, { rows: cols, mode: 'reverse', onProgress: (d) => opts.onProgress?.(ni + d, total) });
  const C = new Float64Array(ni * nj);
  ev.backend.gemm(false, true, ni, nj, p, 1, JI, 0, p, JJ, 0, p, 0, C, 0, nj);
  return { rows, cols, data: C };
}

/**
 * Refuse a tile (ni × nj) that would not fit with what it is computed from (`tileBytes`),
 * naming the number of tiles that fits.
 */
function checkTile(what: string, ni: number, nj: number, diagonal: boolean, k: number, cost: TileCost): void {
  const rows = diagonal ? ni : ni + nj;
  const bytes = tileBytes(cost, ni, nj, diagonal);
  const from = cost.by === 'gram' ? `Gram factors (${rows}×${cost.width})` : `Jacobian rows (${rows}×${cost.width})`;
  if (bytes > resultLimit())
    throw new MemoryError(`${what} and its ${from} need ${fmtBytes(bytes)}, more than the ${fmtBytes(resultLimit())} a result may take (--max-memory): use more tiles, --tiles ${moreTiles(k, cost)}`);
}

/**
 * The fewest blocks B whose largest off-diagonal tile (⌈k/B⌉² values, with its scratch) and
 * what it is computed from (2⌈k/B⌉ rows of `cost.width` values) fit in `resultLimit()`; k when
 * none does. A number for `cost` is a Jacobian row's p.
 * @example moreTiles(4096, 1_000_000) // with a 1 GB budget: 64 (tiles of 64 rows: 1 GB of Jacobian rows)
 */
export function moreTiles(k: number, cost: TileCost | number): number {
  const c0 = typeof cost === 'number' ? { by: 'jacobian' as const, width: cost, scratch: 0 } : cost;
  const limit = resultLimit();
  for (let B = 1; B <= k; B++) {
    const c = Math.ceil(k / B);
    if (tileBytes(c0, c, c, false) <= limit) return B;
  }
  return k;
}

/**
 * The NTK at w in B×B tiles written into the k×k `.npy` file `out`, in one process: tile after
 * tile (i ≤ j), each written in place and, transposed, in place of (j, i), so that memory is
 * one tile and its Jacobian rows, never K or J whole. The same tiles as the tasks of a cluster
 * plan, merged the same way: the file is bit for bit the one a cluster merges.
 * @example writeKernelTiles(evaluator(model), model.w0, 4, 'K.npy');
 */
export function writeKernelTiles(ev: Evaluator, w: Float64Array, B: number, out: string, opts: { onProgress?: (done: number, total: number) => void; cost?: TileCost } = {}): { shape: [number, number]; tiles: number } {
  const { k, p } = ev;
  const tiles = upperTiles(B);
  tileRange(k, B, 0); // checks B
  // the largest tile, before any work: an off-diagonal one (a diagonal one when B = 1)
  const c = Math.ceil(k / B);
  const cost = opts.cost ?? tileCost(ev.model, k, p);
  checkTile(`the largest tile (${c}×${c})`, c, c, B === 1, k, cost);
  const writer = NpyWriter.create(out, [k, k]);
  try {
    tiles.forEach(([i, j], n) => {
      const t = kernelTile(ev, w, B, i, j, { cost });
      const nr = t.rows[1] - t.rows[0], nc = t.cols[1] - t.cols[0];
      writer.writeBlock(t.rows[0], t.cols[0], nr, nc, t.data);
      if (i !== j) writer.writeBlock(t.cols[0], t.rows[0], nc, nr, t.data, true);
      opts.onProgress?.(n + 1, tiles.length);
    });
    writer.commit();
  } catch (e) {
    writer.abort();
    throw e;
  }
  return { shape: [k, k], tiles: tiles.length };
}
