/**
 * The graph passes that make the hierarchy's kernels cheap to evaluate (see hierarchy.ts for
 * the mathematics): gradients and JVPs of a model's parts, inner products of parameter-shaped
 * terms, `reassociate` (outer products kept factored, each contraction in its cheaper order)
 * and `transposeHeavy` (the transpose trick K = K[x → 0] + ⟨x, ∂K/∂x⟩ where K is affine in a
 * heavily indexed node x). Pure graph transforms: no evaluation, no memory policy.
 */
import { flatOutput, substitute } from '../ad/derivatives.ts';
import { jvp } from '../ad/jvp.ts';
import { vjp } from '../ad/transpose.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';

/** The gradient g(u) = Dh(w)ᵀu, one node per parameter (shaped like it). */
export function gradientParts(m: Model, u: NodeId): NodeId[] {
  return vjp(m.graph, [flatOutput(m)], [u], m.params.map((q) => q.node));
}

/** D X[V] for a vector field X given per parameter, along V given per parameter. */
export function jvpParts(m: Model, xs: NodeId[], dir: NodeId[]): NodeId[] {
  return jvp(m.graph, xs, new Map(m.params.map((q, i) => [q.node, dir[i]!])));
}

/** ⟨x, y⟩ = Σ_q Σ x_q ⊙ y_q, elementwise: the readable form, for printing. */
export function dotSum(g: Graph, xs: NodeId[], ys: NodeId[]): NodeId {
  const terms = xs.map((x, i) => g.sumAll(g.mul(x, ys[i]!)));
  return g.addAll(terms, []);
}

/** A 2-D node written as Σ_i s_i·P_i·Q_i with P_i [M, r_i] and Q_i [r_i, N]. */
export type LowRank = { s: number; P: NodeId; Q: NodeId }[];

/**
 * x as a sum of matrix products, looking through +, −, negation, scalar constant factors,
 * 2-D transposes and reshapes that only drop size-1 batch axes; null if x is anything else.
 * Gradients of weight matrices are such products (Σ over rows of δ·zᵀ), and so are their JVPs.
 */
export function asLowRank(g: Graph, x: NodeId, depth = 0): LowRank | null {
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

export const rankOf = (g: Graph, t: LowRank[number]) => g.shape(t.P)[1]!;

/**
 * ⟨x, y⟩ for two parts of the same parameter, in the cheaper of two contraction orders:
 *  - dense: x_qᵀ y_q as the matrix product [1, s]·[s, 1] (batched by vmap over disjoint index
 *    axes, a product of stacked rows; never an elementwise tensor of all pairs);
 *  - factored, when both are sums of products of small inner size (a weight matrix's gradient
 *    on one row is an outer product δ·zᵀ):
 *      ⟨P·Q, R·S⟩ = Σ (Pᵀ·R) ⊙ (Q·Sᵀ),   2·r1·r2·(M + N) flops instead of 2·M·N
 *    (plus forming P·Q and R·S, 2·M·N·r each, which the factored order never does).
 */
export function dotPart(g: Graph, x: NodeId, y: NodeId): NodeId | null {
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
export function dotMatmul(g: Graph, xs: NodeId[], ys: NodeId[]): NodeId {
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
export function cheapMatmul(g: Graph, A: NodeId, B: NodeId, depth = 0): NodeId {
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
export const LINEAR_OPS = new Set(['add', 'sub', 'neg', 'reshape', 'transpose', 'broadcast', 'sum', 'slice', 'pad', 'concat']);

/** True when `root` is an affine function of node n (n enters only through linear ops). */
export function affineIn(g: Graph, cone: NodeId[], n: NodeId): boolean {
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
export function transposeHeavy(g: Graph, value: NodeId, inputs: NodeId[][]): NodeId {
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

