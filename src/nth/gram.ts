/**
 * The structured NTK of a row-separable model: K from per-parameter Gram products of
 * per-row factors, never the k×p Jacobian.
 *
 * On one row (`ir/rows.ts`) a parameter P that enters the model as a matrix-vector product
 * z = P·u (u a vector of the row: its input, or a hidden layer) has the gradient
 *
 *   ∇_P h_a = δ_a ⊗ u_a,     δ_a = ∂h_a/∂z  (the adjoint of z for output a),
 *
 * so ⟨∇_P h_a, ∇_P h_b⟩ = (δ_a·δ_b)(u_a·u_b) and P's share of K = Σ_P J_P J_Pᵀ is
 *
 *   K_P = (Δ_P Δ_Pᵀ) ∘ (U_P U_Pᵀ)                                                    (1)
 *
 * with Δ_P (k × m_out) and U_P (k × m_in) the stacked factors: two Gram products of widths m_out
 * and m_in instead of one of width m_out·m_in. Nothing about the architecture is assumed; the
 * rule is found in the one-row graph:
 *  - a "use" of P is a matmul one of whose operands is a view of P (P itself, its transpose, a
 *    slice such as W[l], a reshape, times a constant — learning rates make √η·P) and whose other
 *    operand is one vector per row: then the use's gradient is one outer product L ⊗ R placed in
 *    P by the view (L, R = δ, u or u, δ by the side P is on);
 *  - a parameter used several times (weight sharing) sums over pairs of uses s, t:
 *    ⟨L_s⊗R_s, L_t⊗R_t⟩ = (L_s·L_t)(R_s·R_t) when both views are the same entries of P,
 *    (L_s·R_t)(R_s·L_t) when one is the other's transpose, 0 when they are disjoint;
 *  - any other use (elementwise, a bias z + b, a readout dot(v, z), a product with several
 *    columns per row, views that partly overlap) makes that parameter "explicit": its per-row
 *    gradient columns G_P (k × |P|) are computed and K_P = G_P G_Pᵀ — cheap for a bias or a
 *    readout vector, which is where it happens in practice.
 * When the factors are not narrower than the Jacobian (their total width W ≥ p), the path
 * does not apply and the caller keeps the Jacobian (`gramApplies`).
 *
 * The adjoints δ come from ONE reverse sweep of the one-row graph: every use node z is replaced by
 * z + ε (ε a zero input), and the VJP with respect to all the ε at once gives each ∂h/∂z — the
 * total derivative through every later use — in the cost of one backward pass without the
 * weight gradients (the m_out·m_in outer products are what is saved). That graph, with the
 * forward factors u, is batched over blocks of (row, output) pairs by vmap and compiled once:
 * elementwise functions (tanh and its derivative) are computed once per block.
 *
 * K is assembled by panels of b rows, its upper triangle only: the rows I of each Gram product
 * against the columns from the panel's diagonal on are a symmetric rank-K update (`Backend.syrk`,
 * dsyrk) of the diagonal block and one gemm beside it — a blocked dsyrk, half the flops of the
 * full product — into two scratch panels whose Hadamard product is added to K's panel (1). The
 * other triangle is mirrored, so K is exactly symmetric. With a `.npy` writer, each panel is
 * written (and its transpose) as soon as it is done: K is never held whole.
 */
import { vjp } from '../ad/transpose.ts';
import { vmap } from '../ad/vmap.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model, ParamInfo } from '../ir/model.ts';
import { pairBlock, rowRestriction, type RowModel } from '../ir/rows.ts';
import { stridesOf } from '../ir/shape.ts';
import type { NpyWriter } from '../io/npy.ts';
import type { Backend } from '../runtime/backend.ts';
import { fmtBytes, MemoryError } from '../runtime/memory.ts';
import { STRUCTURED_K2_FLOPS } from './memory.ts';

/** Entry (r, c) of a use's matrix is P's flat element off + r·sr + c·sc, times `scale` (a stride of a length-1 axis is 0). */
interface MatView {
  off: number;
  rows: number;
  cols: number;
  sr: number;
  sc: number;
  scale: number;
}

/** A view of P through structural ops: element (i0, i1, …) at off + Σ i_j·strides[j], times scale. */
interface View {
  off: number;
  shape: number[];
  strides: number[];
  scale: number;
}

/** One matrix-vector use of a parameter: its gradient on a row is L ⊗ R, placed by `view`. */
interface Use {
  /** The matmul node z. */
  node: NodeId;
  /** The other operand (one vector per row). */
  other: NodeId;
  /** Whether the adjoint δ = ∂h/∂z is the left factor (over the view's rows); else u is. */
  adjLeft: boolean;
  view: MatView;
}

/**
 * One term of K: scale·(A_a·B_b)(C_a·D_b) for factors A, B, C, D (indices into the factor list;
 * C = D = null: scale·A_a·B_b), plus its transpose when not `self` (A = B and C = D).
 */
interface Term {
  a: number;
  b: number;
  c: number | null;
  d: number | null;
  self: boolean;
  scale: number;
}

/**
 * How the Gram path computes the NTK of a model (`gramStructure`): which parameters are factored
 * as matrix-vector uses (1), which enter by their explicit per-row gradient columns, and the
 * total width W of the per-row factors (the Jacobian's is p).
 */
export interface GramStructure {
  /** Parameters whose uses are all matrix-vector products: K_P from δ and u (1). */
  factored: string[];
  /** Parameters used otherwise (biases, readouts, elementwise): K_P = G_P·G_Pᵀ. */
  explicit: string[];
  /** Values per output of all factors: Σ widths (against p for the Jacobian). */
  width: number;
  /** Hadamard and plain Gram terms summed into K. */
  terms: number;
}

interface Analysis extends GramStructure {
  rm: RowModel;
  /** Per factor: its per-pair node (one row, one unit cotangent) and width. */
  factorNodes: NodeId[];
  widths: number[];
  termList: Term[];
  /** The per-pair graph's varying inputs: the unit cotangent [c], then each row input. */
  unit: NodeId;
}

const analyses = new WeakMap<Model, Analysis | null>();

/**
 * Whether, and how, the Gram path applies to a model: null when it is not row-separable, or no
 * parameter is factored (the factors would be the Jacobian itself). Cached per model.
 * @example gramStructure(loadModel('examples/mlp.ntk'))   // { factored: ['W1', 'W2'], explicit: ['a'], width: 2064, terms: 3 }
 */
export function gramStructure(m: Model): GramStructure | null {
  const a = analyze(m);
  return a ? { factored: a.factored, explicit: a.explicit, width: a.width, terms: a.terms } : null;
}

function analyze(m: Model): Analysis | null {
  if (analyses.has(m)) return analyses.get(m)!;
  let result: Analysis | null = null;
  const rm = rowRestriction(m);
  if (rm) result = build(m, rm);
  analyses.set(m, result);
  return result;
}

function build(m: Model, rm: RowModel): Analysis | null {
  const g = m.graph;
  const cone = g.cone([rm.output]);
  const inCone = new Set(cone);
  const consumers = new Map<NodeId, { node: NodeId; arg: number }[]>();
  for (const n of cone)
    g.args(n).forEach((x, arg) => {
      if (!inCone.has(x)) return;
      const list = consumers.get(x);
      if (list) list.push({ node: n, arg });
      else consumers.set(x, [{ node: n, arg }]);
    });
  const params = m.params.filter((q) => inCone.has(q.node));
  const factoredUses = new Map<ParamInfo, Use[]>();
  const explicit: ParamInfo[] = [];
  for (const q of params) {
    const uses = usesOf(g, q, consumers);
    if (uses && pairsSupported(uses)) factoredUses.set(q, uses);
    else explicit.push(q);
  }
  if (factoredUses.size === 0) return null;

  // The per-pair graph: every use node z → z + ε, one VJP for all ε (and the explicit
  // parameters), then ε = 0 (the graph folds back to the model's own nodes).
  const useNodes = [...new Set([...factoredUses.values()].flat().map((u) => u.node))];
  const eps = useNodes.map((z) => g.fresh('var', g.shape(z), 'eps'));
  const epsOf = new Map(useNodes.map((z, i) => [z, eps[i]!]));
  const others = [...new Set([...factoredUses.values()].flat().map((u) => u.other))];
  const [out, ...othersEps] = g.rewrite([rm.output, ...others], new Map(), (n, ins) => {
    const e = epsOf.get(n);
    return e === undefined ? undefined : g.add(g.apply(g.op(n), ins, g.attrs(n)), e);
  });
  const unit = g.fresh('cotangent', [rm.c], 'u');
  const grads = vjp(g, [out!], [unit], [...eps, ...explicit.map((q) => q.node)]);
  const zero = new Map(eps.map((e) => [e, g.zeros(g.shape(e))]));
  const folded = g.rewrite([...grads, ...othersEps], zero);
  const adjNode = new Map(useNodes.map((z, i) => [z, folded[i]!]));
  const gradNode = explicit.map((_, i) => folded[useNodes.length + i]!);
  const otherNode = new Map(others.map((o, i) => [o, folded[useNodes.length + explicit.length + i]!]));

  // Factors, each once (a node shared by two uses is one factor).
  const factorNodes: NodeId[] = [];
  const widths: number[] = [];
  const factorOf = new Map<NodeId, number>();
  const factor = (n: NodeId) => {
    let f = factorOf.get(n);
    if (f === undefined) {
      f = factorNodes.length;
      factorNodes.push(n);
      widths.push(g.sizeOf(n));
      factorOf.set(n, f);
    }
    return f;
  };
  const termList: Term[] = [];
  for (const uses of factoredUses.values()) {
    const LR = uses.map((u) => {
      const adj = factor(adjNode.get(u.node)!), oth = factor(otherNode.get(u.other)!);
      return u.adjLeft ? [adj, oth] : [oth, adj];
    });
    for (let s = 0; s < uses.length; s++) {
      const [Ls, Rs] = LR[s]!, vs = uses[s]!.view;
      termList.push({ a: Ls!, b: Ls!, c: Rs!, d: Rs!, self: true, scale: vs.scale * vs.scale });
      for (let t = s + 1; t < uses.length; t++) {
        const [Lt, Rt] = LR[t]!, vt = uses[t]!.view;
        const scale = vs.scale * vt.scale;
        if (sameView(vs, vt)) termList.push({ a: Ls!, b: Lt!, c: Rs!, d: Rt!, self: false, scale });
        else if (swappedView(vs, vt)) termList.push({ a: Ls!, b: Rt!, c: Rs!, d: Lt!, self: false, scale });
        // disjoint views (checked by pairsSupported): no term
      }
    }
  }
  explicit.forEach((_, i) => {
    const f = factor(gradNode[i]!);
    termList.push({ a: f, b: f, c: null, d: null, self: true, scale: 1 });
  });
  const width = widths.reduce((x, y) => x + y, 0);
  return {
    rm, factorNodes, widths, termList, unit, width, terms: termList.length,
    factored: [...factoredUses.keys()].map((q) => q.name),
    explicit: explicit.map((q) => q.name),
  };
}

/**
 * The matrix-vector uses of parameter q in the one-row graph, following views of it (transpose,
 * slice, reshape that keeps it addressable, scaling by a scalar constant); null when any path
 * from q ends elsewhere (q is then explicit).
 */
function usesOf(g: Graph, q: ParamInfo, consumers: Map<NodeId, { node: NodeId; arg: number }[]>): Use[] | null {
  const uses: Use[] = [];
  const walk = (n: NodeId, v: View): boolean => {
    for (const { node: c, arg } of consumers.get(n) ?? []) {
      const op = g.op(c), at = g.attrs(c), args = g.args(c);
      let next: View | null;
      switch (op) {
        case 'transpose':
          next = { off: v.off, shape: at.perm!.map((i) => v.shape[i]!), strides: at.perm!.map((i) => v.strides[i]!), scale: v.scale };
          break;
        case 'slice':
          next = { off: v.off + at.starts!.reduce((s, x, i) => s + x * v.strides[i]!, 0), shape: at.ends!.map((e, i) => e - at.starts![i]!), strides: v.strides.slice(), scale: v.scale };
          break;
        case 'reshape':
          next = reshapeView(v, at.shape!);
          break;
        case 'neg':
          next = { ...v, scale: -v.scale };
          break;
        case 'mul': case 'div': {
          const k = g.constValue(args[1 - arg]!);
          const same = g.shape(c).length === v.shape.length && g.shape(c).every((d, i) => d === v.shape[i]);
          next = k === undefined || !same || (op === 'div' && arg !== 0) ? null : { ...v, scale: op === 'mul' ? v.scale * k : v.scale / k };
          break;
        }
        case 'matmul': {
          const use = matmulUse(g, c, arg, v);
          if (!use) return false;
          uses.push(use);
          continue;
        }
        default:
          next = null;
      }
      if (!next || !walk(c, next)) return false;
    }
    return true;
  };
  return walk(q.node, { off: 0, shape: q.shape.slice(), strides: stridesOf(q.shape), scale: 1 }) && uses.length > 0 ? uses : null;
}

/** A view reshaped: size-1 axes dropped or added, or any reshape of a contiguous view; else null. */
function reshapeView(v: View, shape: number[]): View | null {
  const keep = v.shape.map((d, i) => [d, v.strides[i]!] as const).filter(([d]) => d !== 1);
  const target = shape.filter((d) => d !== 1);
  if (keep.length === target.length && keep.every(([d], i) => d === target[i])) {
    let j = 0;
    return { off: v.off, shape: shape.slice(), strides: shape.map((d) => (d === 1 ? 0 : keep[j++]![1])), scale: v.scale };
  }
  // contiguous: the kept axes' strides are those of a row-major array
  let acc = 1;
  for (let i = keep.length - 1; i >= 0; i--) {
    if (keep[i]![1] !== acc) return null;
    acc *= keep[i]![0];
  }
  return { off: v.off, shape: shape.slice(), strides: stridesOf(shape), scale: v.scale };
}

/**
 * matmul node c with the view v of a parameter as operand `arg`: a use when the view is a
 * matrix (leading axes of length 1 aside) and the other operand one vector per row (its size
 * the contracted length), so that the gradient through c is one outer product.
 */
function matmulUse(g: Graph, c: NodeId, arg: number, v: View): Use | null {
  const lead = v.shape.length - 2;
  if (lead < 0 || v.shape.slice(0, lead).some((d) => d !== 1)) return null;
  const [rows, cols] = [v.shape[lead]!, v.shape[lead + 1]!];
  const other = g.args(c)[1 - arg]!;
  const contracted = arg === 0 ? cols : rows;
  const free = arg === 0 ? rows : cols;
  if (g.sizeOf(other) !== contracted || g.sizeOf(c) !== free) return null;
  const view: MatView = { off: v.off, rows, cols, sr: rows === 1 ? 0 : v.strides[lead]!, sc: cols === 1 ? 0 : v.strides[lead + 1]!, scale: v.scale };
  return { node: c, other, adjLeft: arg === 0, view };
}

const sameView = (s: MatView, t: MatView) => s.off === t.off && s.rows === t.rows && s.cols === t.cols && s.sr === t.sr && s.sc === t.sc;
const swappedView = (s: MatView, t: MatView) => s.off === t.off && s.rows === t.cols && s.cols === t.rows && s.sr === t.sc && s.sc === t.sr;
const lastOf = (s: MatView) => s.off + (s.rows - 1) * s.sr + (s.cols - 1) * s.sc;
const disjoint = (s: MatView, t: MatView) => lastOf(s) < t.off || lastOf(t) < s.off;

/** Every pair of uses is the same entries, transposed entries, or disjoint ones (else: explicit). */
function pairsSupported(uses: Use[]): boolean {
  for (let s = 0; s < uses.length; s++)
    for (let t = s + 1; t < uses.length; t++) {
      const a = uses[s]!.view, b = uses[t]!.view;
      if (!sameView(a, b) && !swappedView(a, b) && !disjoint(a, b)) return false;
    }
  return true;
}

/** Values of one block of the factors' plan (32 MB): its (row, output) pairs are sized to it. */
const FACTOR_BLOCK_VALUES = 4 * 1024 * 1024;
/** Bytes of K's panel scratch (two or three panels of b × k): b is sized to it. */
const PANEL_BYTES = 64 * 1024 * 1024;

/**
 * Whether `kernel` (order 2) and `ntk` take the Gram path for this model: row-separable, some
 * parameter factored, the factors narrower than the Jacobian (W < p), and their k·W values
 * within `limit` bytes next to the kernel.
 * @example gramApplies(evaluator(loadModel('examples/mlp.ntk')), 2 ** 30)   // true
 */
export function gramApplies(ev: Evaluator, limit: number): boolean {
  const a = analyze(ev.model);
  return a !== null && a.width < ev.p && gramBytes(ev, a, false) <= limit;
}

/**
 * The one rule for when the order-2 NTK takes the Gram path by default (`kernel`, `ntk`, and
 * every study that needs K(w) without the Jacobian): it applies (`gramApplies`) and J·Jᵀ would
 * be large, 2k²p above STRUCTURED_K2_FLOPS (small kernels keep the Jacobian, whose plan is
 * compiled anyway for most studies).
 * @example gramPreferred(evaluator(loadModel('examples/mlp.ntk')), memoryLimit())   // true
 */
export function gramPreferred(ev: Evaluator, limit: number): boolean {
  return 2 * ev.k * ev.k * ev.p > STRUCTURED_K2_FLOPS && gramApplies(ev, limit);
}

/** Bytes the Gram path holds: the factors, the panel scratch and (unless streamed) K. */
function gramBytes(ev: Evaluator, a: Analysis, streamed: boolean): number {
  const { k } = ev;
  const b = panelRows(k, streamed);
  return 8 * (k * a.width + (streamed ? 3 : 2) * b * k + (streamed ? 0 : k * k));
}

function panelRows(k: number, streamed: boolean): number {
  const b = Math.floor(PANEL_BYTES / ((streamed ? 3 : 2) * 8 * k));
  if (b >= k) return k;
  return Math.max(64, b - (b % 64));
}

/**
 * A non-finite entry of K met while it was assembled (an overflow in the model's forward or
 * backward pass): its value and flat index a·k + b. A writer given to `gramNtk` is aborted first.
 * @example try { gramNtk(ev, w) } catch (e) { if (e instanceof NonFiniteKernelError) console.log(e.index) }
 */
export class NonFiniteKernelError extends RangeError {
  constructor(readonly value: number, readonly index: number) {
    super(`the NTK has a non-finite entry (${value} at entry ${index})`);
  }
}

/** Summary values of K gathered while it is assembled (all of K: the mirrored half counted). */
export interface KernelStats {
  maxAbs: number;
  frobenius: number;
  trace: number;
}

/** What `gramNtk` returns: K (null when streamed to a writer), its summary, and how it was computed. */
export interface GramResult {
  data: Float64Array | null;
  stats: KernelStats;
  structure: GramStructure;
  /** Panels of K and their rows; blocks of (row, output) pairs of the factors' plan and their size. */
  panels: number;
  panelRows: number;
  factorBlocks: number;
  factorBlockSize: number;
}

/**
 * The empirical NTK K(w) = Dh·Dhᵀ of a row-separable model by Gram products (see the module
 * comment): K = Σ_P (Δ_P Δ_Pᵀ) ∘ (U_P U_Pᵀ) + Σ_explicit G_P G_Pᵀ, the factors computed by one
 * batched forward and backward pass of the one-row graph, the products by syrk/gemm panels. With
 * `out` (a `.npy` writer of shape [k, k]), each panel of rows is written as it is done (and its
 * transpose below the diagonal) and `data` is null; the caller commits the writer. Throws when
 * the model is not row-separable or no parameter can be factored (`gramStructure` is null), and
 * a MemoryError when the factors do not fit `limit` bytes. `panelRows` and `blockSize` force
 * the rows per panel of K and the (row, output) pairs per block of the factors (tests).
 * @example
 *   const { data } = gramNtk(evaluator(model), model.w0);   // = ntkFromJacobian(ev, ev.jacobian(w0)) to rounding
 */
export function gramNtk(
  ev: Evaluator, w: Float64Array,
  opts: { out?: NpyWriter; onProgress?: (done: number, total: number) => void; limit?: number; panelRows?: number; blockSize?: number } = {},
): GramResult {
  const a = analyze(ev.model);
  if (!a) throw new Error('the Gram path needs a row-separable model with a parameter used as a matrix-vector product');
  const { k } = ev;
  const streamed = opts.out !== undefined;
  const need = gramBytes(ev, a, streamed);
  if (opts.limit !== undefined && need > opts.limit)
    throw new MemoryError(`the NTK by Gram products needs ${fmtBytes(need)} (factors ${fmtBytes(8 * k * a.width)}${streamed ? '' : `, the kernel ${fmtBytes(8 * k * k)}`}), more than the ${fmtBytes(opts.limit)} available`);
  const total = 2 * k;
  const { F, blocks, B } = factors(ev, a, w, (d) => opts.onProgress?.(d, total), opts.blockSize);
  const b = Math.max(1, Math.min(k, opts.panelRows ?? panelRows(k, streamed)));
  const K = streamed ? null : new Float64Array(k * k);
  const stats = assemble(ev.backend, k, F, a.widths, a.termList, b, K, opts.out ?? null, (d) => opts.onProgress?.(k + d, total));
  return { data: K, stats, structure: { factored: a.factored, explicit: a.explicit, width: a.width, terms: a.terms }, panels: Math.ceil(k / b), panelRows: b, factorBlocks: blocks, factorBlockSize: B };
}

/**
 * Rows [r0, r1) × columns [c0, c1) of the NTK by Gram products (a tile of `nth/tiles.ts`): the
 * factors of those rows and columns only, then
 *
 *   K[I, J] = Σ_terms scale·(A_I B_Jᵀ) ∘ (C_I D_Jᵀ)   (+ the transposed side of a term that is not `self`),
 *
 * one gemm per product; a diagonal tile (I = J) is the whole path on those rows (syrk, mirrored:
 * exactly symmetric). Memory: the factors of |I| + |J| pairs (W values each, against p of a
 * Jacobian row) and three |I| × |J| arrays. Throws as `gramNtk` when the path does not apply.
 * @example gramTile(ev, model.w0, [0, 512], [512, 1024])   // K[0:512, 512:1024], 512 × 512 row-major
 */
export function gramTile(ev: Evaluator, w: Float64Array, rows: [number, number], cols: [number, number], opts: { onProgress?: (done: number, total: number) => void } = {}): Float64Array {
  const a = analyze(ev.model);
  if (!a) throw new Error('the Gram path needs a row-separable model with a parameter used as a matrix-vector product');
  const ni = rows[1] - rows[0], nj = cols[1] - cols[0];
  const diagonal = rows[0] === cols[0] && rows[1] === cols[1];
  const total = diagonal ? ni : ni + nj;
  const FI = factors(ev, a, w, (d) => opts.onProgress?.(d, total), undefined, rows).F;
  // a non-finite entry is named by its index in K, not in the tile
  const inK = (i: number) => (rows[0] + Math.floor(i / nj)) * ev.k + cols[0] + (i % nj);
  if (diagonal) {
    const K = new Float64Array(ni * ni);
    try {
      assemble(ev.backend, ni, FI, a.widths, a.termList, panelRows(ni, false), K, null, () => {});
    } catch (e) {
      throw e instanceof NonFiniteKernelError ? new NonFiniteKernelError(e.value, inK(e.index)) : e;
    }
    return K;
  }
  const FJ = factors(ev, a, w, (d) => opts.onProgress?.(ni + d, total), undefined, cols).F;
  const be = ev.backend, T = new Float64Array(ni * nj), S1 = new Float64Array(ni * nj), S2 = new Float64Array(ni * nj);
  const gemm = (x: number, y: number, alpha: number, out: Float64Array, beta: number) =>
    be.gemm(false, true, ni, nj, a.widths[x]!, alpha, FI[x]!, 0, a.widths[x]!, FJ[y]!, 0, a.widths[y]!, beta, out, 0, nj);
  for (const term of a.termList) {
    const sides: [number, number, number | null, number | null][] = [[term.a, term.b, term.c, term.d]];
    if (!term.self) sides.push([term.b, term.a, term.d, term.c]);
    for (const [x, y, u, v] of sides) {
      if (u === null) {
        gemm(x, y, term.scale, T, 1);
        continue;
      }
      gemm(x, y, term.scale, S1, 0);
      gemm(u, v!, 1, S2, 0);
      for (let i = 0; i < T.length; i++) T[i]! += S1[i]! * S2[i]!;
    }
  }
  for (let i = 0; i < T.length; i++)
    if (!Number.isFinite(T[i]!)) throw new NonFiniteKernelError(T[i]!, inK(i));
  return T;
}

const batchedGraphs = new WeakMap<Analysis, Map<number, { varying: NodeId[]; outs: NodeId[] }>>();

/** The per-pair factor graph batched over B (row, output) pairs: inputs [B, c] units and [B, 1, …] rows; outputs [B, width]. */
function batched(g: Graph, a: Analysis, B: number): { varying: NodeId[]; outs: NodeId[] } {
  let cache = batchedGraphs.get(a);
  if (!cache) batchedGraphs.set(a, (cache = new Map()));
  const hit = cache.get(B);
  if (hit) return hit;
  const E = g.fresh('cotangent', [B, a.rm.c], 'E');
  const rows = a.rm.rows.map((r) => g.fresh('data', [B, ...g.shape(r.row)], `${r.data.name}_rows`));
  const outs = vmap(g, a.factorNodes, new Map([[a.unit, E], ...a.rm.rows.map((r, j): [NodeId, NodeId] => [r.row, rows[j]!])]), [B]).map((o, f) => g.reshape(o, [B, a.widths[f]!]));
  const built = { varying: [E, ...rows], outs };
  cache.set(B, built);
  return built;
}

/** The factor arrays (k × width each, row a = i·c + output of row i) by blocks of B pairs. */
function factors(
  ev: Evaluator, a: Analysis, w: Float64Array, progress: (done: number) => void, force?: number, range: [number, number] = [0, ev.k],
): { F: Float64Array[]; blocks: number; B: number } {
  const g = ev.model.graph;
  // the pairs [from, to): all k of them for K, a tile's rows or columns for a tile
  const [from, to] = range, k = to - from;
  const { rm } = a;
  const key = (b: number) => `gram-factors-${b}`;
  const peak = (b: number) => {
    const { varying, outs } = batched(g, a, b);
    return ev.plan(key(b), outs, varying).peakValues;
  };
  let B: number;
  if (force !== undefined) B = Math.max(1, Math.min(k, force));
  else if (k <= 256 && peak(k) <= FACTOR_BLOCK_VALUES) B = k;
  else {
    // p1 holds what every block shares (the parameters: an m×m layer is m² values) and p2 − p1
    // what each (row, output) pair adds: the budget is for the latter. Counting the parameters
    // in it left B = 1 from m = 2048 on (W2 alone is 4M values), so the per-row passes ran as
    // matrix-vector products, memory-bound: m = 1024 → 2048 went 221 ms → 2.3 s at n = 1024.
    const p1 = peak(1), p2 = peak(2);
    B = Math.max(1, Math.min(k, Math.floor(FACTOR_BLOCK_VALUES / Math.max(1, p2 - p1))));
  }
  const { varying, outs } = batched(g, a, B);
  const plan = ev.plan(key(B), outs, varying);
  const blk = pairBlock(rm, B);
  const bind = ev.bindings(w, [[varying[0]!, blk.E], ...blk.R.map((r, j): [NodeId, Float64Array] => [varying[j + 1]!, r])]);
  const F = a.widths.map((wd) => new Float64Array(k * wd));
  let blocks = 0;
  for (let start = 0; start < k; start += B) {
    const count = Math.min(B, k - start);
    blk.load(from + start, count);
    const got = plan.run(bind, { copy: false });
    got.forEach((x, f) => F[f]!.set(x.subarray(0, count * a.widths[f]!), start * a.widths[f]!));
    blocks++;
    progress(start + count);
  }
  return { F, blocks, B };
}

/**
 * K's upper triangle by panels of b rows (module comment), mirrored into K or written to
 * `writer`; returns K's summary values. Throws on a non-finite entry (aborting the writer).
 */
function assemble(
  be: Backend, k: number, F: Float64Array[], widths: number[], terms: Term[], b: number,
  K: Float64Array | null, writer: NpyWriter | null, progress: (done: number) => void,
): KernelStats {
  const S1 = new Float64Array(b * k), S2 = new Float64Array(b * k);
  const P = K ? null : new Float64Array(b * k);
  const stats: KernelStats = { maxAbs: 0, frobenius: 0, trace: 0 };
  let fro = 0;
  for (let i0 = 0; i0 < k; i0 += b) {
    const bi = Math.min(b, k - i0), wd = k - i0;
    // the panel: rows i0 … i0+bi−1, columns i0 … k−1, in K itself or in P (row stride wd)
    const T = K ?? P!, tOff = K ? i0 * k + i0 : 0, ld = K ? k : wd;
    if (!K) P!.fill(0, 0, bi * wd);
    /** rows I of alpha·F_x·F_yᵀ against columns ≥ i0, into out (row stride ld) with beta. */
    const gram = (x: number, y: number, alpha: number, out: Float64Array, off: number, ldo: number, beta: number) => {
      const wx = widths[x]!, X = F[x]!, Y = F[y]!;
      if (x === y) {
        be.syrk('upper', false, bi, wx, alpha, X, i0 * wx, wx, beta, out, off, ldo);
        if (wd > bi) be.gemm(false, true, bi, wd - bi, wx, alpha, X, i0 * wx, wx, X, (i0 + bi) * wx, wx, beta, out, off + bi, ldo);
      } else be.gemm(false, true, bi, wd, wx, alpha, X, i0 * wx, wx, Y, i0 * wx, wx, beta, out, off, ldo);
    };
    const hadamard = () => {
      for (let r = 0; r < bi; r++) {
        const t = tOff + r * ld, s = r * wd;
        for (let c = r; c < wd; c++) T[t + c]! += S1[s + c]! * S2[s + c]!;
      }
    };
    for (const term of terms) {
      const sides: [number, number, number | null, number | null][] = [[term.a, term.b, term.c, term.d]];
      if (!term.self) sides.push([term.b, term.a, term.d, term.c]);
      for (const [x, y, u, v] of sides) {
        if (u === null) {
          gram(x, y, term.scale, T, tOff, ld, 1);
          continue;
        }
        gram(x, y, term.scale, S1, 0, wd, 0);
        gram(u, v!, 1, S2, 0, wd, 0);
        hadamard();
      }
    }
    // the panel's upper part is final: summary, then its mirror images
    for (let r = 0; r < bi; r++) {
      const t = tOff + r * ld;
      for (let c = r; c < wd; c++) {
        const x = T[t + c]!;
        if (!Number.isFinite(x)) {
          writer?.abort();
          throw new NonFiniteKernelError(x, (i0 + r) * k + i0 + c);
        }
        const ax = Math.abs(x);
        if (ax > stats.maxAbs) stats.maxAbs = ax;
        fro += c === r ? x * x : 2 * x * x;
        if (c === r) stats.trace += x;
      }
      // within the diagonal block: the lower triangle from the upper
      for (let c = 0; c < r; c++) T[t + c] = T[tOff + c * ld + r]!;
    }
    if (K) {
      for (let r = 0; r < bi; r++) {
        const t = tOff + r * ld;
        for (let c = bi; c < wd; c++) K[(i0 + c) * k + i0 + r] = T[t + c]!;
      }
    } else {
      const w8 = writer!;
      for (let r = 0; r < bi; r++) w8.write((i0 + r) * k + i0, P!.subarray(r * wd, (r + 1) * wd));
      const col = new Float64Array(bi);
      for (let c = bi; c < wd; c++) {
        for (let r = 0; r < bi; r++) col[r] = P![r * wd + c]!;
        w8.write((i0 + c) * k + i0, col);
      }
    }
    progress(i0 + bi);
  }
  stats.frobenius = Math.sqrt(fro);
  return stats;
}
