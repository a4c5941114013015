/**
 * The Neural Tangent Hierarchy (docs/math.md §3; Huang & Yau 2019): the kernels of every order on the
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
 * k^r times. The last index b enters only as the direction g_b of the outermost derivative (never
 * differentiated); it is batched in blocks, and the plan's fixed phase (everything that does not
 * depend on b, i.e. all of K^(r−1)'s towers) runs once, each block only what depends on b.
 *
 * The contraction order, which decides the cost:
 *  - Row-separable models (`ir/rows.ts`; h = f(X) mapped over the rows, one output per input): an
 *    index a selects a row of the data instead of a cotangent, and every tower runs through that
 *    row's forward pass only — n times less work than through the whole model.
 *  - On one row a weight matrix's gradient is an outer product δ·zᵀ, and its directional
 *    derivatives are sums of 2^j such products. `reassociate` keeps them factored: a tangent
 *    pushed through them is (x·δ)·zᵀ, O(m) instead of O(m²) (`cheapMatmul`), and the inner
 *    products of (1) are ⟨P·Q, R·S⟩ = Σ (Pᵀ·R) ⊙ (Q·Sᵀ) (`dotPart`), again O(m) per pair of
 *    terms instead of O(m²). Each choice compares the flop counts of both orders.
 *  - Otherwise the inner products are [1, s]·[s, 1] matrix products per parameter, so batched
 *    they are products of stacked rows, never a k^r × p tensor of elementwise products; the
 *    runtime turns a batch of dot products of all pairs into one gemm.
 *  - Then `transposeHeavy` moves work to the lighter side of the inner products: a node that
 *    depends on many indices and enters the kernel linearly (a third-order tangent pushed
 *    through W2, k³·m² flops) is replaced by one inner product with its adjoint ∂K/∂x, which
 *    depends only on the indices of what x meets (⟨X·M, c⟩ = ⟨X, c·Mᵀ⟩).
 *
 * Cost on the W3 benchmark (2-hidden-layer tanh MLP, n = 16, m = 128, p = 17536): K^(4) in
 * about 0.25 GFLOP (0.5 before `transposeHeavy`); the plain dense order (whole model per index,
 * dense gradients) needs 24.
 */
import { flatOutput, splitFlat, substitute } from '../ad/derivatives.ts';
import { jvp } from '../ad/jvp.ts';
import { vjp } from '../ad/transpose.ts';
import { vmap } from '../ad/vmap.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';
import { MAX_RESULT_BYTES, MemoryError } from '../runtime/memory.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { ntkByProducts } from './ntk.ts';
import { fmtBytes, memoryBudget } from '../runtime/memory.ts';
import { rowRestriction, type RowModel } from '../ir/rows.ts';

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

/** A 2-D node written as Σ_i s_i·P_i·Q_i with P_i [M, r_i] and Q_i [r_i, N]. */
type LowRank = { s: number; P: NodeId; Q: NodeId }[];

/**
 * x as a sum of matrix products, looking through +, −, negation, scalar constant factors,
 * 2-D transposes and reshapes that only drop size-1 batch axes; null if x is anything else.
 * Gradients of weight matrices are such products (Σ over rows of δ·zᵀ), and so are their JVPs.
 */
function asLowRank(g: Graph, x: NodeId, depth = 0): LowRank | null {
  const shape = g.shape(x);
  if (shape.length !== 2 || depth > 64) return null;
  if (g.isZero(x)) return [];
  const [M, N] = shape as [number, number];
  const args = g.args(x);
  switch (g.op(x)) {
    case 'matmul': {
      const [a, b] = args as [NodeId, NodeId];
      const sa = g.shape(a), sb = g.shape(b);
      if (sa.length !== 2 || sb.length !== 2) return null;
      return [{ s: 1, P: a, Q: b }];
    }
    case 'reshape': {
      const inner = args[0]!;
      const si = g.shape(inner);
      if (g.op(inner) !== 'matmul' || si.length < 3 || si.slice(0, -2).some((d) => d !== 1) || si[si.length - 2] !== M || si[si.length - 1] !== N) return null;
      const [a, b] = g.args(inner) as [NodeId, NodeId];
      const sa = g.shape(a), sb = g.shape(b);
      if (sa.slice(0, -2).some((d) => d !== 1) || sb.slice(0, -2).some((d) => d !== 1)) return null;
      const r = sa[sa.length - 1]!;
      return [{ s: 1, P: g.reshape(a, [M, r]), Q: g.reshape(b, [r, N]) }];
    }
    case 'transpose': {
      const t = asLowRank(g, args[0]!, depth + 1);
      return t && t.map(({ s, P, Q }) => ({ s, P: g.swapLast(Q), Q: g.swapLast(P) }));
    }
    case 'neg': {
      const t = asLowRank(g, args[0]!, depth + 1);
      return t && t.map((e) => ({ ...e, s: -e.s }));
    }
    case 'add': case 'sub': {
      const [a, b] = args as [NodeId, NodeId];
      if (g.shape(a).length !== 2 || g.shape(b).length !== 2 || g.shape(a).some((d, i) => d !== shape[i]) || g.shape(b).some((d, i) => d !== shape[i])) return null;
      const ta = asLowRank(g, a, depth + 1), tb = asLowRank(g, b, depth + 1);
      if (!ta || !tb) return null;
      return [...ta, ...tb.map((e) => (g.op(x) === 'sub' ? { ...e, s: -e.s } : e))];
    }
    case 'mul': {
      const [a, b] = args as [NodeId, NodeId];
      const c = g.constValue(a);
      if (c === undefined || g.sizeOf(a) !== 1) return null;
      const t = asLowRank(g, b, depth + 1);
      return t && t.map((e) => ({ ...e, s: c * e.s }));
    }
    default:
      return null;
  }
}

const rankOf = (g: Graph, t: LowRank[number]) => g.shape(t.P)[1]!;

/**
 * ⟨x, y⟩ for two parts of the same parameter, in the cheaper of two contraction orders:
 *  - dense: x_qᵀ y_q as the matrix product [1, s]·[s, 1] (batched by vmap over disjoint index
 *    axes, a product of stacked rows; never an elementwise tensor of all pairs);
 *  - factored, when both are sums of products of small inner size (a weight matrix's gradient
 *    on one row is an outer product δ·zᵀ):
 *      ⟨P·Q, R·S⟩ = Σ (Pᵀ·R) ⊙ (Q·Sᵀ),   2·r1·r2·(M + N) flops instead of 2·M·N
 *    (plus forming P·Q and R·S, 2·M·N·r each, which the factored order never does).
 */
function dotPart(g: Graph, x: NodeId, y: NodeId): NodeId | null {
  if (g.isZero(x) || g.isZero(y)) return null;
  const s = g.sizeOf(x);
  const dense = () => g.matmul(g.reshape(x, [1, s]), g.reshape(y, [s, 1]));
  const lx = asLowRank(g, x), ly = lx && asLowRank(g, y);
  if (!lx || !ly) return dense();
  if (lx.length === 0 || ly.length === 0) return null;
  const [M, N] = g.shape(x) as [number, number];
  let factored = 0;
  for (const a of lx) for (const b of ly) factored += 2 * rankOf(g, a) * rankOf(g, b) * (M + N);
  const denseCost = 2 * M * N * (1 + lx.reduce((t, a) => t + rankOf(g, a), 0) + ly.reduce((t, b) => t + rankOf(g, b), 0));
  if (factored >= denseCost) return dense();
  const terms: NodeId[] = [];
  for (const a of lx)
    for (const b of ly) {
      const inner = g.sumAll(g.mul(g.matmul(g.swapLast(a.P), b.P), g.matmul(a.Q, g.swapLast(b.Q))));
      terms.push(g.mul(g.constant(a.s * b.s), g.reshape(inner, [1, 1])));
    }
  return g.addAll(terms, [1, 1]);
}

/** ⟨x, y⟩ = Σ_q ⟨x_q, y_q⟩ over the parameters, each part by `dotPart`; a scalar node. */
function dotMatmul(g: Graph, xs: NodeId[], ys: NodeId[]): NodeId {
  const terms: NodeId[] = [];
  xs.forEach((x, i) => {
    const t = dotPart(g, x, ys[i]!);
    if (t !== null) terms.push(t);
  });
  return g.reshape(g.addAll(terms, [1, 1]), []);
}

/**
 * The cheapest order of a matrix product A·B [M, K]·[K, N] when one factor is a sum of products
 * of small inner size r (asLowRank):
 *   A·(Σ P_i Q_i) = Σ (A·P_i)·Q_i   costs Σ 2·M·r_i·(K + N),
 *   (Σ P_i Q_i)·B = Σ P_i·(Q_i·B)   costs Σ 2·N·r_i·(K + M),
 * against 2·M·K·N as written (not counting the product P·Q itself, which the factored orders
 * never form). A forward tangent pushed through a weight matrix whose tangent is a rank-one
 * gradient δ·zᵀ (or its JVPs) costs O(m) instead of O(m²) this way.
 */
function cheapMatmul(g: Graph, A: NodeId, B: NodeId, depth = 0): NodeId {
  const sa = g.shape(A), sb = g.shape(B);
  if (sa.length !== 2 || sb.length !== 2 || depth > 4) return g.matmul(A, B);
  const [M, K] = sa as [number, number];
  const N = sb[1]!;
  const lb = asLowRank(g, B), la = asLowRank(g, A);
  if ((lb && lb.length === 0) || (la && la.length === 0)) return g.zeros([M, N]);
  const cost = (l: LowRank | null, f: (r: number) => number) => (l ? l.reduce((t, e) => t + f(rankOf(g, e)), 0) : Infinity);
  const dense = 2 * M * K * N;
  const right = cost(lb, (r) => 2 * M * r * (K + N));
  const left = cost(la, (r) => 2 * N * r * (K + M));
  if (dense <= right && dense <= left) return g.matmul(A, B);
  const scale = (c: number, x: NodeId) => (c === 1 ? x : g.mul(g.constant(c), x));
  const terms =
    right <= left
      ? lb!.map(({ s, P, Q }) => scale(s, g.matmul(cheapMatmul(g, A, P, depth + 1), Q)))
      : la!.map(({ s, P, Q }) => scale(s, g.matmul(P, cheapMatmul(g, Q, B, depth + 1))));
  return g.addAll(terms, [M, N]);
}

/**
 * The cone of `roots` with every 2-D matrix product in its cheapest order (`cheapMatmul`);
 * values unchanged up to rounding (associativity and distributivity).
 */
export function reassociate(g: Graph, roots: NodeId[]): NodeId[] {
  return g.rewrite(roots, new Map(), (n, ins) => (g.op(n) === 'matmul' ? cheapMatmul(g, ins[0]!, ins[1]!) : undefined));
}

/** Ops through which a value stays linear in an argument (each argument separately). */
const LINEAR_OPS = new Set(['add', 'sub', 'neg', 'reshape', 'transpose', 'broadcast', 'sum', 'slice', 'pad', 'concat']);

/** True when `root` is an affine function of node n (n enters only through linear ops). */
function affineIn(g: Graph, cone: NodeId[], n: NodeId): boolean {
  const dep = new Set<NodeId>([n]);
  for (const x of cone) {
    if (x === n) continue;
    const args = g.args(x);
    const hit = args.map((a) => dep.has(a));
    if (!hit.some(Boolean)) continue;
    const op = g.op(x);
    const count = hit.filter(Boolean).length;
    const ok = LINEAR_OPS.has(op) || ((op === 'mul' || op === 'matmul') && count === 1) || (op === 'div' && count === 1 && hit[0]);
    if (!ok) return false;
    dep.add(x);
  }
  return true;
}

/**
 * Move work to the lighter side of the inner products (the transpose trick). After batching, a
 * node costs its size (2·M·K·N for a product) times k per index it depends on. When V is
 * affine in a node x that depends on many indices, then with c = ∂V/∂x (a VJP: it depends only
 * on the indices of what x is contracted with)
 *
 *   V = V[x → 0] + ⟨x, c⟩,                                                   exact algebra.
 *
 * Two uses: x = X·M with M independent of the indices (e.g. a third-order tangent pushed
 * through W2, k³·m² flops in K^(4)): ⟨X·M, c⟩ = ⟨X, c·Mᵀ⟩ forms the product k^|c| times
 * instead of k^|X| times; and x read by several inner products ⟨x, y_i⟩·s_i: they become one,
 * ⟨x, Σ s_i y_i⟩. Applied greedily, the most expensive node first, when the estimated cost of
 * the whole graph drops by 10% (W3's K^(4): 498 → 246 MFLOP).
 */
function transposeHeavy(g: Graph, value: NodeId, inputs: NodeId[][]): NodeId {
  const index = new Map<NodeId, number>();
  inputs.forEach((ins, i) => ins.forEach((x) => index.set(x, 1 << i)));
  const masks = new Map<NodeId, number>();
  const bits = (m: number) => {
    let c = 0;
    for (; m; m &= m - 1) c++;
    return c;
  };
  const K = 16; // a nominal index range: only the comparison matters
  const maskOf = (root: NodeId): number => {
    for (const x of g.cone([root])) {
      if (masks.has(x)) continue;
      let m = index.get(x) ?? 0;
      for (const a of g.args(x)) m |= masks.get(a)!;
      masks.set(x, m);
    }
    return masks.get(root)!;
  };
  const costs = new Map<NodeId, number>();
  const nodeCost = (x: NodeId): number => {
    let c = costs.get(x);
    if (c === undefined) costs.set(x, (c = nodeCost1(x)));
    return c;
  };
  const nodeCost1 = (x: NodeId): number => {
    const op = g.op(x);
    if (op === 'input' || op === 'const' || op === 'literal' || op === 'reshape') return 0;
    const scale = K ** bits(masks.get(x)!);
    if (op === 'matmul') {
      const sa = g.shape(g.args(x)[0]!);
      return 2 * sa[sa.length - 1]! * g.sizeOf(x) * scale;
    }
    return g.sizeOf(x) * scale;
  };
  const costOf = (root: NodeId) => {
    maskOf(root);
    return g.cone([root]).reduce((t, x) => t + nodeCost(x), 0);
  };
  const tried = new Set<NodeId>();
  let current = costOf(value), failures = 0;
  for (let round = 0; round < 32; round++) {
    const cone = g.cone([value]);
    // The weight of a node: its own cost, or that of its readers (what rewriting it removes).
    const users = new Map<NodeId, number>(), readCost = new Map<NodeId, number>();
    for (const x of cone)
      for (const a of new Set(g.args(x))) {
        users.set(a, (users.get(a) ?? 0) + 1);
        readCost.set(a, (readCost.get(a) ?? 0) + nodeCost(x));
      }
    const weight = (x: NodeId) => (g.op(x) === 'matmul' ? nodeCost(x) : readCost.get(x) ?? 0);
    const candidates = cone
      .filter((x) => !tried.has(x) && g.shape(x).length === 2 && bits(masks.get(x)!) >= 2)
      .filter((x) => (g.op(x) === 'matmul' ? g.args(x).some((a) => masks.get(a) === 0) : (users.get(x) ?? 0) >= 2))
      .filter((x) => weight(x) >= current / 50)
      .sort((x, y) => weight(y) - weight(x));
    let changed = false;
    for (const x of candidates) {
      tried.add(x);
      if (!affineIn(g, cone, x)) continue;
      const [c] = vjp(g, [value], [g.constant(1, g.shape(value))], [x]);
      let dot: NodeId | null;
      const [a, b] = g.args(x) as [NodeId, NodeId];
      if (g.op(x) === 'matmul' && masks.get(b) === 0) dot = dotPart(g, a, g.matmul(c!, g.swapLast(b)));
      else if (g.op(x) === 'matmul' && masks.get(a) === 0) dot = dotPart(g, b, g.matmul(g.swapLast(a), c!));
      else dot = dotPart(g, x, c!);
      const rest = substitute(g, value, x, g.zeros(g.shape(x)));
      const next = dot === null ? rest : g.add(rest, g.reshape(dot, g.shape(value)));
      const cost = costOf(next);
      // Candidates come heaviest first: after a few rewrites that do not pay, stop looking
      // (each try is a VJP of the whole graph).
      if (cost > 0.9 * current) {
        if (++failures >= 6) return value;
        continue;
      }
      value = next;
      current = cost;
      changed = true;
      break;
    }
    if (!changed) break;
  }
  return value;
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

function makeIndex(m: Model, src: IndexSource, i: number): IndexGraph {
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
function indexValues(m: Model, src: IndexSource, a: number | 'all'): Float64Array[] {
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

/**
 * Options of `kernel` and `hierarchy`: the weights w, a slice K^(r)(a1..aj, ·, …, ·), memory,
 * and the way the kernel is computed (`structure`).
 */
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
  /**
   * 'rows': one row's forward pass per index (row-separable models only, see `ir/rows.ts`);
   * 'dense': the whole model per index; 'products' (order 2 only): k NTK-vector products
   * Dh·(Dhᵀ·e_i), never forming the Jacobian; 'auto' (default): rows when the model is
   * separable (and, at order 2, the product large), else for the NTK the cheaper of the dense
   * Jacobian and the products that fits in memory (a flop estimate).
   */
  structure?: 'auto' | 'rows' | 'dense' | 'products';
  /**
   * 'test': the first index ranges over the kt test outputs g of the model's `test`
   * declaration, the others over the training outputs: the mixed kernel K^(r)(x, a2..ar) of the
   * stacked outputs [h; g] (eq. 2.11), shape [kt, k, …, k]; a slice's first index is then a test
   * output. Default 'train'.
   */
  firstIndex?: 'train' | 'test';
  onProgress?: (done: number, total: number) => void;
}

/** A kernel tensor: row-major, `shape` = [k, …, k] (r − j axes for a slice of j indices). */
export interface KernelTensor {
  order: number;
  shape: number[];
  data: Float64Array;
  slice: number[];
  /** Work done: blocks of b and their size, and the structure used. */
  blocks: number;
  blockSize: number;
  structure: 'rows' | 'dense' | 'products';
  /** E.g. that kernels of order ≥ 3 of a model with relu/abs/sign drop the kinks. */
  warnings: string[];
}

/**
 * The warning of kernels of order ≥ 3 for a model with relu, abs or sign; null otherwise.
 * @example nonSmoothWarning(parseModel('param w = 1\nmodel h = relu(w)'), 3)   // the warning; null for r = 2
 */
export function nonSmoothWarning(m: Model, r: number): string | null {
  if (!m.nonSmooth || r < 3) return null;
  return `the model uses a non-smooth function (relu, abs or sign): the kernel of order ${r} involves derivatives of h of order 2 to ${r - 1}, which are zero almost everywhere (it drops the contributions of the kinks)`;
}

/**
 * Bytes we allow for a kernel: the memory budget (runtime/memory.ts: --max-memory, or half the
 * available memory), at most MAX_RESULT_BYTES.
 * @example checkKernelMemory(k, r, 0, memoryLimit())
 */
export function memoryLimit(): number {
  return Math.min(MAX_RESULT_BYTES, memoryBudget());
}


/**
 * Refuse a kernel of order r whose slice (j fixed indices) would not fit in `limit` bytes,
 * naming the size and the smallest slice that fits.
 * @example checkKernelMemory(64, 6, 0, 2 ** 30)   // throws MemoryError: 64⁶ entries need 512 GB; try a slice
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
        ? `; compute slices instead: ${j === 1 ? '--slice a1 fixes the first index' : `--slice a1,…,a${j} fixes the first ${j} indices`} (0-based) and leaves ${k}^${r - j} entries (${fmtBytes(k ** (r - j) * 8)}), e.g. --slice ${Array(j).fill(0).join(',')}`
        : `; even one slice K^(${r})(a1..a${r - 1}, ·) is too large`),
  );
}

/**
 * Whether the NTK should come from NTK-vector products rather than the Jacobian: when J (k·p
 * values) would not fit in `limit` bytes, or when the products' flop count is lower.
 */
function productsPreferred(ev: Evaluator, limit: number): boolean {
  if (ev.k * ev.p * 8 > limit) return true;
  const { dense, products } = ev.ntkFlops();
  return products < dense;
}

/** 2k²p above which K^(2) of a row-separable model takes the structured path (≈ 0.1 s of GEMM). */
const STRUCTURED_K2_FLOPS = 2e8;

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
  const { k } = ev;
  const w = opts.w ?? m.w0;
  const slice = opts.slice ?? [];
  const test = opts.firstIndex === 'test';
  if (test && !m.test) throw new KernelUsageError("the model declares no test outputs: add 'test NAME = expression'");
  const k1 = test ? ev.kt : k; // the range of the first index
  if (slice.length > r - 1) throw new KernelUsageError(`a slice of K^(${r}) fixes at most ${r - 1} indices, got ${slice.length}`);
  slice.forEach((a, i) => {
    const n = i === 0 ? k1 : k;
    if (!Number.isInteger(a) || a < 0 || a >= n)
      throw new KernelUsageError(`slice index ${a} is not ${i === 0 && test ? 'a test' : 'an'} output index in 0..${n - 1}`);
  });
  const limit = opts.memoryBytes ?? memoryLimit();
  const fixed = slice.length;
  if (test) checkMixedMemory(k1, k, r, fixed, limit);
  else checkKernelMemory(k, r, fixed, limit);
  const shape = Array<number>(r - fixed).fill(k);
  if (test && fixed === 0) shape[0] = k1;

  // K^(2) = J·Jᵀ costs 2k²p flops once J is known. For a row-separable model the generator's
  // factored inner products (a weight matrix's per-row gradient is an outer product δ·zᵀ, so
  // ⟨δ_a z_aᵀ, δ_b z_bᵀ⟩ = (δ_a·δ_b)(z_a·z_b)) cost O(k²·(m_in + m_out)) per matrix instead: the
  // structured NTK. Taken when the dense product would be large (a flop estimate).
  const structured =
    r === 2 && !test && (opts.structure === 'rows' || (opts.structure === 'auto' || opts.structure === undefined) && 2 * k * k * ev.p > STRUCTURED_K2_FLOPS && indexSource(ev, 'auto').kind === 'rows');
  if (r === 2 && !structured) {
    // Any model: J·Jᵀ from the Jacobian, or k NTK-vector products Dh·(Dhᵀ·e_i) when J would not
    // fit in memory or when they cost fewer flops (a JVP cheaper than k·p: few outputs, or
    // outputs that each read a small part of the model).
    const viaProducts = !test && (opts.structure === 'products' || (opts.structure !== 'dense' && productsPreferred(ev, limit)));
    const K = test ? ev.crossKernel(w) : viaProducts ? ntkByProducts(ev, w) : ntkFromJacobian(ev, ev.jacobian(w));
    const data = fixed === 0 ? K : fixed === 1 ? K.slice(slice[0]! * k, (slice[0]! + 1) * k) : K;
    return { order: 2, shape, data, slice, blocks: 1, blockSize: k, structure: viaProducts ? 'products' : 'dense', warnings: [] };
  }
  if (opts.structure === 'products') throw new KernelUsageError(`structure 'products' (NTK-vector products) is for the NTK, order 2, not K^(${r})`);

  // The symmetric half (2) needs an index beyond the first two: not at r = 2.
  const symmetric = r > 2 && !test && fixed === 0 && (opts.symmetric ?? true);
  const src = indexSource(ev, opts.structure ?? 'auto');
  const first = test ? { m: testView(m), src: indexSource(ev, opts.structure ?? 'auto', 'test') } : undefined;
  const entries = shape.reduce((a, b) => a * b, 1);
  const resultBytes = entries * 8 * (symmetric ? 2 : 1);
  const budgetValues = Math.max(1, Math.floor((limit - resultBytes) / 8));
  const B = Math.min(k, opts.blockSize ?? chooseBlock(ev, src, r, fixed, symmetric, budgetValues, first));
  const built = batchedGraph(ev, src, r, fixed, symmetric, B, first);
  const last = built.indices[r - 1]!;
  const plan = ev.plan(built.key, [built.value], last, { fuse: KERNEL_FUSE, memoryChecked: true });
  if (plan.peakValues > budgetValues)
    throw new MemoryError(
      `one block of K^(${r}) needs ${fmtBytes(plan.peakValues * 8)} of buffers, more than the ${fmtBytes(budgetValues * 8)} left; fix more leading indices with --slice`,
    );

  // Bindings made once, so the plan's fixed phase (everything but the block of b) is cached.
  const extra: [NodeId, Float64Array][] = [];
  built.indices.slice(0, r - 1).forEach((ins, i) => {
    const values = i === 0 && first ? indexValues(first.m, first.src, fixed > 0 ? slice[0]! : 'all') : indexValues(m, src, i < fixed ? slice[i]! : 'all');
    ins.forEach((node, j) => extra.push([node, values[j]!]));
  });
  const all = indexValues(m, src, 'all');
  const blockValues = all.map((v) => new Float64Array((v.length / k) * B));
  last.forEach((node, j) => extra.push([node, blockValues[j]!]));
  const bind = ev.bindings(w.slice(), extra);

  // The block's output has shape [k (free indices, in order)…, B]; the result is [k…, k]
  // (the first free axis kt for the mixed kernel).
  const rows = entries / k;
  const F = new Float64Array(rows * k);
  let blocks = 0;
  for (let b0 = 0; b0 < k; b0 += B) {
    const count = Math.min(B, k - b0);
    // The last block is padded by repeating its last index (its results are dropped).
    all.forEach((v, j) => {
      const size = v.length / k;
      for (let t = 0; t < B; t++) {
        const b = b0 + Math.min(t, count - 1);
        blockValues[j]!.set(v.subarray(b * size, (b + 1) * size), t * size);
      }
    });
    const out = plan.run(bind, { copy: false })[0]!;
    // the block's columns b0 … b0 + count − 1 of every row (typed-array copies: a process that
    // computes one kernel runs this once, before V8 would have compiled a loop of k² steps)
    if (B === k && b0 === 0) F.set(out.subarray(0, rows * k));
    else for (let row = 0; row < rows; row++) F.set(out.subarray(row * B, row * B + count), row * k + b0);
    blocks++;
    opts.onProgress?.(b0 + count, k);
  }
  const structure = src.kind;
  const warnings = [nonSmoothWarning(test ? testView(m) : m, r)].filter((x): x is string => x !== null);
  if (!symmetric) return { order: r, shape, data: F, slice, blocks, blockSize: B, structure, warnings };
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
  return { order: r, shape, data: K, slice, blocks, blockSize: B, structure, warnings };
}

/** Refuse a mixed kernel [k1, k, …, k] (first index over k1 test outputs) that would not fit. */
function checkMixedMemory(k1: number, k: number, r: number, fixed: number, limit: number): void {
  const entries = (fixed === 0 ? k1 : 1) * k ** (r - Math.max(fixed, 1));
  if (entries * 8 <= limit) return;
  throw new MemoryError(
    `the mixed kernel K^(${r})(x, …) has ${entries.toExponential(3)} entries (${fmtBytes(entries * 8)}), more than the ${fmtBytes(limit)} available; fix leading indices with a slice (the first one a test output)`,
  );
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

const sources = [new WeakMap<Model, IndexSource>(), new WeakMap<Model, IndexSource>()];

/**
 * The index source of a model's training outputs (or, with 'test', of its test outputs): rows
 * when they are row-separable, dense otherwise or when asked. Separability is proved by the
 * construction of the one-row graph (`ir/rows.ts`: every op of the cone is checked to act
 * row-wise, anything else falls back to dense), so it is not re-checked numerically here: the
 * check (`rowsReproduce`) cost a dense forward pass plus a batched one, about 100 ms of the first
 * kernel of the 271k-parameter MLP, against 150 ms for the kernel itself. The tests run it on
 * every example model instead, and compare the rows and dense kernels on others.
 */
function indexSource(ev: Evaluator, want: 'auto' | 'rows' | 'dense', which: 'train' | 'test' = 'train'): IndexSource {
  if (want === 'dense') return { kind: 'dense' };
  const m = ev.model;
  const cache = sources[which === 'train' ? 0 : 1]!;
  let src = cache.get(m);
  if (!src) {
    const rm = rowRestriction(which === 'train' ? m : testView(m));
    src = rm ? { kind: 'rows', rm } : { kind: 'dense' };
    cache.set(m, src);
  }
  if (want === 'rows' && src.kind !== 'rows')
    throw new KernelUsageError(`${which === 'train' ? 'the model is' : 'the test outputs are'} not row-separable (an output depends on more than its own row of the data): use --structure dense`);
  return src;
}

/**
 * The largest relative difference between the one-row graph batched over all n rows (one run of
 * a vmapped plan) and the model's own outputs h(w0) (or its test outputs): 0 up to rounding when
 * the row restriction is right. For tests of `ir/rows.ts`.
 * @example expect(rowsReproduce(ev, rowRestriction(m)!)).toBeLessThan(1e-12);
 */
export function rowsReproduce(ev: Evaluator, rm: RowModel, which: 'train' | 'test' = 'train'): number {
  const g = ev.model.graph;
  const h = which === 'train' ? ev.output(ev.model.w0) : ev.testOutput(ev.model.w0);
  const batched = new Map(rm.rows.map((r) => [r.row, g.fresh('data', [rm.n, ...g.shape(r.row)], `${r.data.name}_rows`)] as [NodeId, NodeId]));
  const [out] = vmap(g, [rm.output], batched, [rm.n]);
  const plan = ev.plan(`nth-row-check-${which}-${out!}`, [out!]);
  const got = plan.run(ev.bindings(ev.model.w0, rm.rows.map((r) => [batched.get(r.row)!, r.data.value])))[0]!;
  if (got.length !== h.length) return Infinity;
  let worst = 0;
  for (let i = 0; i < h.length; i++) {
    const e = Math.abs(got[i]! - h[i]!) / Math.max(1, Math.abs(h[i]!));
    if (!(e <= worst)) worst = Number.isNaN(e) ? Infinity : e;
  }
  return worst;
}

/**
 * Kernel plans fuse only the elementwise clusters the backend runs with its own precompiled
 * loops (wasm SIMD): each plan runs once per block of b (usually once), and the generated
 * JavaScript of a fused cluster is a fresh function that V8 runs in its interpreter until it is
 * optimized — on W3's K^(4) that warm-up cost ~0.3 s of a 1.1 s process, more than fusion saves.
 * The wasm loops have no warm-up: W3's plan 151 → 77 instructions, 67 → 54 MB of buffers.
 */
const KERNEL_FUSE = 'backend' as const;

interface Batched {
  key: string;
  /** The inputs of each index 1..r: batched ones for the free indices and the block of b. */
  indices: NodeId[][];
  value: NodeId;
}

const batchedCache = new WeakMap<Model, Map<string, Batched>>();

/**
 * The graph of `kernelGraph` with the last index batched over a block of B outputs (axis last)
 * and the free indices (j+1)..(r−1) over all k outputs (axes first, in order).
 */
function batchedGraph(ev: Evaluator, src: IndexSource, r: number, fixed: number, symmetric: boolean, B: number, first?: IndexSpace): Batched {
  const m = ev.model;
  let cache = batchedCache.get(m);
  if (!cache) batchedCache.set(m, (cache = new Map()));
  const key = `nth-${src.kind}-${first ? `test-${first.src.kind}-` : ''}${r}-${fixed}-${symmetric ? 's' : 'f'}-${B}`;
  const found = cache.get(key);
  if (found) return found;
  const g = m.graph;
  const base = kernelGraph(m, r, symmetric, src, first);
  const indices = base.indices.map((x) => x.inputs);
  let value = base.value;
  for (let i = r - 1; i >= fixed; i--) {
    const size = i === r - 1 ? B : i === 0 && first ? ev.kt : ev.k;
    const batched = new Map(indices[i]!.map((x) => [x, g.fresh(g.attrs(x).role!, [size, ...g.shape(x)], `${g.attrs(x).name}b`)]));
    [value] = vmap(g, [value], batched, [size]);
    indices[i] = [...batched.values()];
  }
  // Every free index of the training outputs takes the same values, all k outputs (the last one
  // too when its block is all of them), so the towers they share — ∇h_a, the per-row forward
  // pass, A_S ∇h_a — are the same functions of the same data. Reading all of them from the
  // first one's inputs lets hash-consing build each shared tower once: the structured NTK ran
  // every row's forward and backward pass twice before. The other indices' own input nodes
  // leave the graph; binding them (kernelTensor does) is harmless.
  const rep = Math.max(fixed, first ? 1 : 0);
  const same = new Map<NodeId, NodeId>();
  for (let i = rep + 1; i < r; i++) if (i < r - 1 || B === ev.k) indices[i]!.forEach((x, j) => same.set(x, indices[rep]![j]!));
  if (same.size > 0) [value] = g.rewrite([value], same);
  const result = { key, indices, value };
  cache.set(key, result);
  return result;
}

/**
 * The block of b: all k at once when that plan fits `budget` values (one graph, one compile),
 * else the largest B under the budget, the peak growing linearly in B from the plan of B = 1.
 */
function chooseBlock(ev: Evaluator, src: IndexSource, r: number, fixed: number, symmetric: boolean, budget: number, first?: IndexSpace): number {
  const k = ev.k;
  const peak = (B: number) => {
    const b = batchedGraph(ev, src, r, fixed, symmetric, B, first);
    return ev.plan(b.key, [b.value], b.indices[r - 1], { fuse: KERNEL_FUSE, memoryChecked: true }).peakValues;
  };
  const pk = peak(k);
  if (k === 1 || pk <= budget) return k;
  const p1 = peak(1);
  if (p1 > budget) return 1;
  const perB = Math.max(1, (pk - p1) / (k - 1));
  return Math.max(1, Math.min(k, Math.floor((budget - p1) / perB) + 1));
}

/**
 * The hierarchy K^(2), …, K^(r) at w (full tensors), e.g. the initial values of eq. 2.7.
 * @example const [K2, K3] = kernelHierarchy(evaluator(model), 3)
 */
export function kernelHierarchy(ev: Evaluator, r: number, opts: Omit<KernelOptions, 'slice'> = {}): KernelTensor[] {
  checkOrder(r);
  const out: KernelTensor[] = [];
  for (let i = 2; i <= r; i++) out.push(kernelTensor(ev, i, opts));
  return out;
}
