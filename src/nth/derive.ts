/**
 * The kernels of the hierarchy as graphs (see hierarchy.ts for the mathematics): the order's
 * limits, K^(r)[u1..ur] as an r-linear form of index cotangents (`deriveKernel`), as a function
 * of r data rows for a row-separable model (`deriveRowKernel`), the index spaces an index can
 * range over (outputs of h, or of the test outputs g via `testView`), and `kernelGraph`, the
 * kernel of order r on the chosen indices that the block loop batches.
 */
import { substitute } from '../ad/derivatives.ts';
import { jvp } from '../ad/jvp.ts';
import { vjp } from '../ad/transpose.ts';
import type { NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';
import { rowRestriction, type RowModel } from '../ir/rows.ts';
import { dotMatmul, dotSum, gradientParts, jvpParts, reassociate, transposeHeavy } from './graph-passes.ts';

/**
 * The highest order accepted: beyond it the tensors and graphs are absurd for any k > 1.
 * @example kernel(model, MAX_ORDER + 1)   // throws KernelUsageError
 */
export const MAX_ORDER = 12;

/**
 * An order outside 2..MAX_ORDER, or a slice that does not fit the kernel.
 * @example try { kernel(model, 1) } catch (e) { e instanceof KernelUsageError }   // true: orders start at 2
 */
export class KernelUsageError extends Error {}

export function checkOrder(r: number): void {
  if (!Number.isInteger(r) || r < 2 || r > MAX_ORDER)
    throw new KernelUsageError(`order ${r}: kernels of the hierarchy have an integer order from 2 (the NTK) to ${MAX_ORDER}`);
}

/** The graph K^(r)[u1..ur] of `deriveKernel`. */
export interface KernelDerivation {
  order: number;
  /**
   * The index cotangents u1..ur (inputs of shape [k], role 'cotangent'), or, for a model with
   * one output (k = 1), constant ones: the kernel is then a function of w alone.
   */
  indices: NodeId[];
  /** The scalar node K^(r)[u1, …, ur]. */
  value: NodeId;
  /** The lower orders: levels[j] = K^(j+2)[u1..u(j+2)], levels[order − 2] = value. */
  levels: NodeId[];
}

/**
 * The kernel of order r as a graph: K^(2)[u1, u2] = ⟨Dhᵀu1, Dhᵀu2⟩ and
 * K^(i)[u1..ui] = D_w K^(i−1)[u1..u(i−1)] [Dhᵀu_i], by nested JVPs along reverse-mode gradients
 * (every direction is a graph node of w, so it is differentiated by the later levels).
 * The inputs are named u1..ur (the same nodes on every call for a model).
 *
 * @example
 *   // h = a·w + b·w²/2: K^(2) = s², K^(3) = 2b·s², K^(r) = (2b)^(r−2)·s² with s = a + b·w.
 *   const d = deriveKernel(model, 3);
 *   printGraph(model.graph, [['K3', d.value]]);
 */
export function deriveKernel(m: Model, r: number): KernelDerivation {
  checkOrder(r);
  const g = m.graph;
  const k = sizeOf(m.outputShape);
  const indices = Array.from({ length: r }, (_, i) => (k === 1 ? g.constant(1, [1]) : g.input(`u${i + 1}`, 'cotangent', [k])));
  const grads = indices.map((u) => gradientParts(m, u));
  let value = dotSum(g, grads[0]!, grads[1]!);
  const levels = [value];
  for (let i = 2; i < r; i++) {
    [value] = jvp(g, [value], new Map(m.params.map((q, j) => [q.node, grads[i]![j]!])));
    levels.push(value!);
  }
  return { order: r, indices, value: value!, levels };
}

/** The graph of `deriveRowKernel`: K^(r) as a function of r rows of the data. */
export interface RowKernelDerivation {
  order: number;
  /** For each index i, the one-row data inputs that stand for its row (named like X_1, X_2). */
  rows: NodeId[][];
  /** The names of the data arrays, in the order of each `rows[i]`. */
  dataNames: string[];
  value: NodeId;
}

/**
 * For a row-separable model with one output per row (h_a = f(x_a), `ir/rows.ts`), the kernel of
 * order r as a function of r data rows, as the papers write it: K^(2)(x1, x2) =
 * ⟨∇f(x1), ∇f(x2)⟩, K^(i)(x1..xi) = D_w K^(i−1)(x1..x(i−1)) [∇f(xi)]; K^(r)(a1..ar) is its value
 * at the rows a1..ar. Null for other models (use `deriveKernel`).
 * @example
 *   const d = deriveRowKernel(model, 3);   // bind d.rows[i][0] to the row X[a_i] (shape [1, d])
 */
export function deriveRowKernel(m: Model, r: number): RowKernelDerivation | null {
  checkOrder(r);
  const rm = rowRestriction(m);
  if (!rm || rm.c !== 1) return null;
  const g = m.graph;
  const taken = new Set([...m.data.map((d) => d.name), ...m.params.map((q) => q.name), ...m.constants.keys()]);
  const rows = Array.from({ length: r }, (_, i) =>
    rm.rows.map((x) => {
      let name = `${x.data.name}_${i + 1}`;
      while (taken.has(name)) name += "'";
      return g.input(name, 'data', g.shape(x.row));
    }),
  );
  const grads = rows.map((copies) => {
    let out = rm.output;
    rm.rows.forEach((x, j) => (out = substitute(g, out, x.row, copies[j]!)));
    return vjp(g, [out], [g.constant(1, [1])], m.params.map((q) => q.node));
  });
  let value = dotSum(g, grads[0]!, grads[1]!);
  for (let i = 2; i < r; i++) [value] = jvp(g, [value], new Map(m.params.map((q, j) => [q.node, grads[i]![j]!])));
  return { order: r, rows, dataNames: rm.rows.map((x) => x.data.name), value: value! };
}

/**
 * How an output index enters the numeric graph: the inputs that select it (bound to one index,
 * or batched over all k by vmap) and the gradient ∇h_a they give, per parameter.
 *  - dense: a cotangent u ∈ R^k, ∇h = Dhᵀu over the whole model;
 *  - rows (row-separable models, `ir/rows.ts`): copies of the one-row data inputs (the row i of
 *    output a = i·c + j) and, when a row has c > 1 outputs, a cotangent u ∈ R^c (e_j): the
 *    gradient is taken through one row's forward pass only.
 */
export interface IndexGraph {
  inputs: NodeId[];
  parts: NodeId[];
}

export type IndexSource = { kind: 'dense' } | { kind: 'rows'; rm: RowModel };

export function makeIndex(m: Model, src: IndexSource, i: number): IndexGraph {
  const g = m.graph;
  if (src.kind === 'dense') {
    const u = g.fresh('cotangent', [sizeOf(m.outputShape)], `u${i + 1}_`);
    return { inputs: [u], parts: gradientParts(m, u) };
  }
  const { rm } = src;
  const copies = rm.rows.map((r) => g.fresh('data', g.shape(r.row), `${r.data.name}${i + 1}_`));
  let out = rm.output;
  rm.rows.forEach((r, j) => (out = substitute(g, out, r.row, copies[j]!)));
  const u = rm.c === 1 ? g.constant(1, [1]) : g.fresh('cotangent', [rm.c], `u${i + 1}_`);
  const parts = vjp(g, [out], [u], m.params.map((q) => q.node));
  return { inputs: rm.c === 1 ? copies : [...copies, u], parts };
}

/** The values selecting output a (0-based) for the inputs of `makeIndex`, or all k stacked. */
export function indexValues(m: Model, src: IndexSource, a: number | 'all'): Float64Array[] {
  const k = sizeOf(m.outputShape);
  const list = a === 'all' ? [...Array(k).keys()] : [a];
  if (src.kind === 'dense') {
    const U = new Float64Array(list.length * k);
    list.forEach((b, t) => (U[t * k + b] = 1));
    return [U];
  }
  const { rm } = src;
  const out = rm.rows.map((r) => {
    const size = r.data.value.length / rm.n;
    const X = new Float64Array(list.length * size);
    list.forEach((b, t) => X.set(r.data.value.subarray(Math.floor(b / rm.c) * size, (Math.floor(b / rm.c) + 1) * size), t * size));
    return X;
  });
  if (rm.c > 1) {
    const U = new Float64Array(list.length * rm.c);
    list.forEach((b, t) => (U[t * rm.c + (b % rm.c)] = 1));
    out.push(U);
  }
  return out;
}

/**
 * Another output space of the same weights for the first index: the test outputs g of a `test`
 * declaration, as the model `testView(m)` (same graph and parameters, output g) and its source.
 */
export interface IndexSpace {
  m: Model;
  src: IndexSource;
}

/**
 * The Leibniz form (1) (or its half (2) with `symmetricHalf`) of K^(r), every index from `src`
 * (the last one only as a direction, never differentiated), in the contraction order of
 * `reassociate`: the graph `kernelTensor` batches.
 *
 * With `first`, the first index a1 ranges over another output space of the same weights (the
 * test outputs): the kernel of the stacked outputs s = [h; g] with a1 in the g block and
 * a2..ar in the h block. Nothing else changes — in (1) each index only contributes its own
 * gradient field ∇s_a, and the directions V3..Vr stay those of the training outputs — so this
 * is the mixed kernel K^(r)(x, a2..ar) of eq. 2.11, from the same generator. Only the plain
 * form (1): the symmetry of the first two indices pairs a test index with a training one.
 * `transpose: false` skips `transposeHeavy` (same values; for tests and comparisons).
 * @example const { indices, value } = kernelGraph(model, 3)   // K^(3)[u1, u2, u3] as a graph node
 */
export function kernelGraph(
  m: Model,
  r: number,
  symmetricHalf: boolean,
  src: IndexSource = { kind: 'dense' },
  first?: IndexSpace,
  transpose = true,
): { indices: IndexGraph[]; value: NodeId } {
  checkOrder(r);
  if (first && symmetricHalf) throw new KernelUsageError('the symmetric half needs both leading indices from the same outputs');
  const g = m.graph;
  const indices = Array.from({ length: r }, (_, i) => (i === 0 && first ? makeIndex(first.m, first.src, i) : makeIndex(m, src, i)));
  const grads = indices.map((x) => x.parts);
  // dirs[j] is V_(j+3): the gradient fields of indices 3..r.
  const dirs = grads.slice(2);
  const towers = [new Map<number, NodeId[]>(), new Map<number, NodeId[]>()];
  // A_S g(u_which) for S given as a bit mask over dirs, built from its largest-prefix tower.
  const tower = (which: 0 | 1, mask: number): NodeId[] => {
    const memo = towers[which]!;
    const found = memo.get(mask);
    if (found) return found;
    let result: NodeId[];
    if (mask === 0) result = grads[which]!;
    else {
      const top = 31 - Math.clz32(mask);
      result = jvpParts(m, tower(which, mask & ~(1 << top)), dirs[top]!);
    }
    memo.set(mask, result);
    return result;
  };
  const n = dirs.length, all = (1 << n) - 1, last = 1 << (n - 1);
  const terms: NodeId[] = [];
  for (let mask = 0; mask <= all; mask++) {
    if (symmetricHalf && !(mask & last)) continue;
    terms.push(dotMatmul(g, tower(0, mask), tower(1, all & ~mask)));
  }
  const [value] = reassociate(g, [g.addAll(terms, [])]);
  return { indices, value: transpose ? transposeHeavy(g, value!, indices.map((x) => x.inputs)) : value! };
}


const views = new WeakMap<Model, Model>();

/**
 * The model's test outputs g (its `test` declaration) as a model of the same graph and weights:
 * output g in its declared shape, so that `rowRestriction` and `makeIndex` serve it unchanged.
 * @example evaluate(testView(model))   // g(w0), the same as evaluateTest(model)
 */
export function testView(m: Model): Model {
  const t = m.test;
  if (!t) throw new KernelUsageError("the model declares no test outputs: add 'test NAME = expression'");
  let v = views.get(m);
  if (!v) {
    v = { ...m, output: m.graph.reshape(t.output, t.shape), outputName: t.name, outputShape: t.shape, nonSmooth: t.nonSmooth, loss: null, test: null };
    views.set(m, v);
  }
  return v;
}

