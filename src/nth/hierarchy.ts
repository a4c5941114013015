/**
 * The Neural Tangent Hierarchy (MATH.md §3; Huang & Yau 2019): the kernels of every order on the
 * outputs of a model h: R^p → R^k, as graphs and as numbers.
 *
 *   K^(2)(a1, a2)          = ⟨∇h_a1, ∇h_a2⟩
 *   K^(r+1)(a1..ar, b)     = ⟨∇_w K^(r)(a1..ar), ∇h_b⟩ = D K^(r)(a1..ar)[g_b],   g_b = ∇h_b(w).
 *
 * Each level is a directional derivative (a JVP) of the previous one along a gradient field
 * g_b(w) = Dh(w)ᵀ e_b, which itself depends on w: in K^(4) = D(D K^(2)[g_a3])[g_b] the inner
 * direction g_a3 is differentiated too (D K^(2)[D g_a3[g_b]] is one of its terms), while the
 * outermost direction g_b is only a vector.
 *
 * ## Indices as cotangents
 *
 * An index a is the cotangent e_a ∈ R^k, and g(u) = Dhᵀu is one reverse-mode pass. The kernel
 * of order r is then the r-linear form
 *
 *   K^(r)[u1, …, ur] = Σ u1_a1 ⋯ ur_ar K^(r)(a1, …, ar),
 *
 * a scalar graph in w and u1..ur (`deriveKernel`): entries are u_i = e_ai, and the graph can be
 * printed, compiled, and differentiated again.
 *
 * ## The Leibniz form and the contraction order (`kernelTensor`)
 *
 * Let V3..Vr be the directions (V_i = g(u_i)(w) for i < r, and V_r a fixed vector), and for a
 * vector field X(w) and an increasing set S = {s1 < … < sj} ⊆ {3..r} let
 *
 *   A_S X = D(⋯ D(D X[V_s1])[V_s2] ⋯)[V_sj]      (nested JVPs; A_∅ X = X).
 *
 * Applying the product rule r − 2 times to ⟨g(u1), g(u2)⟩ sends each derivative either to the
 * first factor or to the second (including the directions already inside that factor), so
 *
 *   K^(r)[u1..ur] = Σ_{S ⊆ {3..r}} ⟨A_S g(u1), A_{S^c} g(u2)⟩.                         (1)
 *
 * Swapping u1 and u2 maps the term of S to the term of its complement, so with
 *
 *   F[u1..ur] = Σ_{S ∋ r} ⟨A_S g(u1), A_{S^c} g(u2)⟩,   K(a1, a2, …) = F(a1, a2, …) + F(a2, a1, …):   (2)
 *
 * half of the 2^(r−2) terms, and only the towers A_S g(u1) with r ∈ S on the first index — the
 * symmetry of the first two indices halves the work of the full tensor.
 *
 * Numbers: all index tuples at once by nested `vmap`, one batch axis per index. vmap shares
 * every node that does not depend on a batched input, so a node is evaluated once per tuple of
 * the indices it depends on: g(u) k times, A_{3} g(u1) k² times, A_{34} g(u1) k³ times, never
 * k^r times. The last index b enters only as the fixed vector V_r = g_b, which is read from the
 * Jacobian J (computed once, reused for every b) and processed in blocks of b: the plan's fixed
 * phase (everything that does not depend on V_r, i.e. all of K^(r−1)'s towers) runs once, each
 * block of b only the nodes that depend on it. The inner products ⟨·,·⟩ are matrix products
 * [1, s]·[s, 1] per parameter, so that, batched, they are products of stacked rows and never
 * materialize the k^r × p tensor of elementwise products.
 *
 * Cost (dense weights, no per-example structure): the towers of (1) of length j cost about j
 * forward passes each and are evaluated k^(j+1) times; the contractions cost 2·p·k^r per term.
 */
import { freemem } from 'node:os';
import { flatOutput, splitFlat } from '../ad/derivatives.ts';
import { jvp } from '../ad/jvp.ts';
import { vjp } from '../ad/transpose.ts';
import { vmap } from '../ad/vmap.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';
import type { Evaluator } from '../runtime/evaluator.ts';
import { MAX_RESULT_BYTES, MemoryError } from '../runtime/evaluator.ts';
import { ntkFromJacobian } from './ntk.ts';

/** The highest order accepted: beyond it the tensors and graphs are absurd for any k > 1. */
export const MAX_ORDER = 12;

/** An order outside 2..MAX_ORDER, or a slice that does not fit the kernel. */
export class KernelUsageError extends Error {}

export function checkOrder(r: number): void {
  if (!Number.isInteger(r) || r < 2 || r > MAX_ORDER)
    throw new KernelUsageError(`order ${r}: kernels of the hierarchy have an integer order from 2 (the NTK) to ${MAX_ORDER}`);
}

/** The gradient g(u) = Dh(w)ᵀu, one node per parameter (shaped like it). */
function gradientParts(m: Model, u: NodeId): NodeId[] {
  return vjp(m.graph, [flatOutput(m)], [u], m.params.map((q) => q.node));
}

/** D X[V] for a vector field X given per parameter, along V given per parameter. */
function jvpParts(m: Model, xs: NodeId[], dir: NodeId[]): NodeId[] {
  return jvp(m.graph, xs, new Map(m.params.map((q, i) => [q.node, dir[i]!])));
}

/** ⟨x, y⟩ = Σ_q Σ x_q ⊙ y_q, elementwise: the readable form, for printing. */
function dotSum(g: Graph, xs: NodeId[], ys: NodeId[]): NodeId {
  const terms = xs.map((x, i) => g.sumAll(g.mul(x, ys[i]!)));
  return g.addAll(terms, []);
}

/**
 * ⟨x, y⟩ = Σ_q x_qᵀ y_q as matrix products [1, s]·[s, 1]: batched by vmap over disjoint index
 * axes, these become products of stacked rows, never an elementwise tensor of all pairs.
 */
function dotMatmul(g: Graph, xs: NodeId[], ys: NodeId[]): NodeId {
  const terms: NodeId[] = [];
  xs.forEach((x, i) => {
    const y = ys[i]!;
    if (g.isZero(x) || g.isZero(y)) return;
    const s = g.sizeOf(x);
    terms.push(g.matmul(g.reshape(x, [1, s]), g.reshape(y, [s, 1])));
  });
  return g.reshape(g.addAll(terms, [1, 1]), []);
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

/**
 * The Leibniz form (1) (or its half (2) with `symmetricHalf`) of K^(r) with the last direction a
 * vector input V ∈ R^p: the graph `kernelTensor` batches. Inputs: u1..u(r−1) of shape [k], V.
 */
export function kernelGraph(m: Model, r: number, symmetricHalf: boolean): { us: NodeId[]; V: NodeId; value: NodeId } {
  checkOrder(r);
  const g = m.graph;
  const k = sizeOf(m.outputShape);
  const us = Array.from({ length: r - 1 }, (_, i) => g.fresh('cotangent', [k], `u${i + 1}_`));
  const V = g.fresh('tangent', [m.paramCount], 'V');
  const grads = us.map((u) => gradientParts(m, u));
  // dirs[j] is V_(j+3): the gradient fields g(u3..u(r−1)), then the vector V.
  const dirs = [...grads.slice(2), splitFlat(g, V, m.params)];
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
  return { us, V, value: g.addAll(terms, []) };
}

export interface KernelOptions {
  /** Weights (default w0). */
  w?: Float64Array;
  /**
   * Fix the leading indices a1..aj (0-based): the result is the slice
   * K^(r)(a1..aj, ·, …, ·) with k^(r−j) entries. Default: none (the full tensor).
   */
  slice?: number[];
  /** Memory for the result and one block's buffers, in bytes (default: see `memoryLimit`). */
  memoryBytes?: number;
  /** Force the number of b per block (tests). */
  blockSize?: number;
  /** Use the symmetric half (2) for full tensors (default true; false = the plain form (1)). */
  symmetric?: boolean;
  onProgress?: (done: number, total: number) => void;
}

/** A kernel tensor: row-major, `shape` = [k, …, k] (r − j axes for a slice of j indices). */
export interface KernelTensor {
  order: number;
  shape: number[];
  data: Float64Array;
  slice: number[];
  /** Work done: blocks of b and their size. */
  blocks: number;
  blockSize: number;
}

/** Bytes we allow for a kernel: half the free memory, at most MAX_RESULT_BYTES. */
export function memoryLimit(): number {
  return Math.min(MAX_RESULT_BYTES, Math.floor(freemem() / 2));
}

const fmtBytes = (b: number) =>
  b >= 1024 ** 3 ? `${(b / 1024 ** 3).toFixed(1)} GB` : b >= 1024 ** 2 ? `${(b / 1024 ** 2).toFixed(1)} MB` : `${Math.ceil(b / 1024)} kB`;

/**
 * Refuse a kernel of order r whose slice (j fixed indices) would not fit in `limit` bytes,
 * naming the size and the smallest slice that fits.
 */
export function checkKernelMemory(k: number, r: number, fixed: number, limit: number): void {
  const entries = k ** (r - fixed);
  const bytes = entries * 8;
  if (bytes <= limit) return;
  let j = fixed;
  while (j < r - 1 && k ** (r - j) * 8 > limit) j++;
  const fits = k ** (r - j) * 8 <= limit;
  throw new MemoryError(
    `K^(${r}) ${fixed ? `with ${fixed} fixed indices ` : ''}has ${k}^${r - fixed} = ${entries.toExponential(3)} entries (${fmtBytes(bytes)}), more than the ${fmtBytes(limit)} available` +
      (fits
        ? `; compute slices instead: --slice a1,…,a${j} fixes the first ${j} indices (0-based) and leaves ${k}^${r - j} entries (${fmtBytes(k ** (r - j) * 8)}), e.g. --slice ${Array(j).fill(0).join(',')}`
        : `; even one slice K^(${r})(a1..a${r - 1}, ·) is too large`),
  );
}

/**
 * The kernel K^(r) at w as numbers: the full tensor (k^r entries, row-major in (a1, …, ar)) or,
 * with `slice: [a1..aj]`, the tensor K^(r)(a1..aj, ·, …, ·) of k^(r−j) entries.
 *
 * r = 2 is the NTK J·Jᵀ. For r ≥ 3 the graph of (1) (or (2) for a full tensor) is batched by
 * vmap over the free indices (the fixed ones are bound to unit vectors) and evaluated in blocks
 * of the last index b, whose direction g_b is a row of the Jacobian J (computed once). Refuses
 * (MemoryError) when the result or one block would not fit, naming the slice to use instead.
 *
 * @example
 *   const K3 = kernelTensor(evaluator(model), 3);     // K3.data[(a1·k + a2)·k + b]
 *   const row = kernelTensor(evaluator(model), 4, { slice: [0, 1, 2] });  // K^(4)(0, 1, 2, ·)
 */
export function kernelTensor(ev: Evaluator, r: number, opts: KernelOptions = {}): KernelTensor {
  checkOrder(r);
  const m = ev.model;
  const { k, p } = ev;
  const w = opts.w ?? m.w0;
  const slice = opts.slice ?? [];
  if (slice.length > r - 1) throw new KernelUsageError(`a slice of K^(${r}) fixes at most ${r - 1} indices, got ${slice.length}`);
  for (const a of slice)
    if (!Number.isInteger(a) || a < 0 || a >= k) throw new KernelUsageError(`slice index ${a} is not an output index in 0..${k - 1}`);
  const limit = opts.memoryBytes ?? memoryLimit();
  const fixed = slice.length;
  checkKernelMemory(k, r, fixed, limit);
  const shape = Array<number>(r - fixed).fill(k);
  const J = ev.jacobian(w);

  if (r === 2) {
    const K = ntkFromJacobian(ev, J);
    const data = fixed === 0 ? K : fixed === 1 ? K.slice(slice[0]! * k, (slice[0]! + 1) * k) : K;
    return { order: 2, shape, data, slice, blocks: 1, blockSize: k };
  }

  const symmetric = fixed === 0 && (opts.symmetric ?? true);
  const resultBytes = k ** (r - fixed) * 8 * (symmetric ? 2 : 1);
  const budgetValues = Math.max(1, Math.floor((limit - resultBytes) / 8));
  const B = Math.min(k, opts.blockSize ?? chooseBlock(ev, r, fixed, symmetric, budgetValues));
  const built = batchedGraph(ev, r, fixed, symmetric, B);
  const plan = ev.plan(built.key, [built.value], [built.V]);
  if (plan.peakValues > budgetValues)
    throw new MemoryError(
      `one block of K^(${r}) needs ${fmtBytes(plan.peakValues * 8)} of buffers, more than the ${fmtBytes(budgetValues * 8)} left; fix more leading indices with --slice`,
    );

  // Bindings made once, so the plan's fixed phase (everything but the block of g_b) is cached.
  const Vb = new Float64Array(B * p);
  const extra: [NodeId, Float64Array][] = [[built.V, Vb]];
  built.us.forEach((u, i) => {
    if (i < fixed) {
      const e = new Float64Array(k);
      e[slice[i]!] = 1;
      extra.push([u, e]);
    } else {
      const I = new Float64Array(k * k);
      for (let a = 0; a < k; a++) I[a * k + a] = 1;
      extra.push([u, I]);
    }
  });
  const bind = ev.bindings(w.slice(), extra);

  // The block's output has shape [k (free u's, in order)…, B]; the result is [k…, k].
  const rows = k ** (r - 1 - fixed);
  const F = new Float64Array(rows * k);
  let blocks = 0;
  for (let b0 = 0; b0 < k; b0 += B) {
    const count = Math.min(B, k - b0);
    Vb.fill(0);
    Vb.set(J.subarray(b0 * p, (b0 + count) * p));
    const out = plan.run(bind, { copy: false })[0]!;
    for (let row = 0; row < rows; row++)
      for (let j = 0; j < count; j++) F[row * k + b0 + j] = out[row * B + j]!;
    blocks++;
    opts.onProgress?.(b0 + count, k);
  }
  if (!symmetric) return { order: r, shape, data: F, slice, blocks, blockSize: B };
  // K(a1, a2, rest) = F(a1, a2, rest) + F(a2, a1, rest), exactly symmetric by construction.
  const inner = k ** (r - 2);
  const K = new Float64Array(F.length);
  for (let a1 = 0; a1 < k; a1++)
    for (let a2 = a1; a2 < k; a2++) {
      const x = (a1 * k + a2) * inner, y = (a2 * k + a1) * inner;
      for (let t = 0; t < inner; t++) {
        const s = F[x + t]! + F[y + t]!;
        K[x + t] = s;
        K[y + t] = s;
      }
    }
  return { order: r, shape, data: K, slice, blocks, blockSize: B };
}

interface Batched {
  key: string;
  us: NodeId[];
  V: NodeId;
  value: NodeId;
}

const batchedCache = new WeakMap<Model, Map<string, Batched>>();

/**
 * The graph of `kernelGraph` with V batched over B directions (axis last) and the free indices
 * u(j+1)..u(r−1) batched over the k unit vectors (axes first, in order).
 */
function batchedGraph(ev: Evaluator, r: number, fixed: number, symmetric: boolean, B: number): Batched {
  const m = ev.model;
  let cache = batchedCache.get(m);
  if (!cache) batchedCache.set(m, (cache = new Map()));
  const key = `nth-${r}-${fixed}-${symmetric ? 's' : 'f'}-${B}`;
  const found = cache.get(key);
  if (found) return found;
  const g = m.graph;
  const k = ev.k;
  const base = kernelGraph(m, r, symmetric);
  const V = g.fresh('tangent', [B, m.paramCount], 'G');
  let [value] = vmap(g, [base.value], new Map([[base.V, V]]), [B]);
  const us = base.us.slice();
  for (let i = base.us.length - 1; i >= fixed; i--) {
    const U = g.fresh('cotangent', [k, k], `U${i + 1}_`);
    [value] = vmap(g, [value!], new Map([[base.us[i]!, U]]), [k]);
    us[i] = U;
  }
  const result = { key, us, V, value: value! };
  cache.set(key, result);
  return result;
}

/** The largest block of b whose plan stays within `budget` values (peak grows linearly in B). */
function chooseBlock(ev: Evaluator, r: number, fixed: number, symmetric: boolean, budget: number): number {
  const k = ev.k;
  const peak = (B: number) => {
    const b = batchedGraph(ev, r, fixed, symmetric, B);
    return ev.plan(b.key, [b.value], [b.V]).peakValues;
  };
  const p1 = peak(1);
  if (k === 1 || p1 > budget) return 1;
  const pk = peak(k);
  if (pk <= budget) return k;
  const perB = Math.max(1, (pk - p1) / (k - 1));
  return Math.max(1, Math.min(k, Math.floor((budget - p1) / perB) + 1));
}

/** The hierarchy K^(2), …, K^(r) at w (full tensors), e.g. the initial values of eq. 2.7. */
export function kernelHierarchy(ev: Evaluator, r: number, opts: Omit<KernelOptions, 'slice'> = {}): KernelTensor[] {
  checkOrder(r);
  const out: KernelTensor[] = [];
  for (let i = 2; i <= r; i++) out.push(kernelTensor(ev, i, opts));
  return out;
}
