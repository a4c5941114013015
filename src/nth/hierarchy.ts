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
import { Thousandths } from '../io/progress.ts';
import { vmap } from '../ad/vmap.ts';
import { GraphSizeError, graphNodeLimit, type NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';
import { MemoryError } from '../runtime/memory.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { ensureNtkMemory, ntkByProducts } from './ntk.ts';
import { rowRestriction, type RowModel } from '../ir/rows.ts';
import { gramNtk, gramPreferred, gramStructure, type GramStructure, type KernelStats } from './gram.ts';
import type { NpyWriter } from '../io/npy.ts';

import { checkOrder, indexValues, kernelGraph, KernelUsageError, testView, type IndexSource, type IndexSpace } from './derive.ts';
import { checkKernelMemory, checkMixedMemory, fmtBytes, memoryLimit, productsPreferred, STRUCTURED_K2_FLOPS } from './memory.ts';

// By concern: the kernels as graphs (derive.ts), the graph passes that make them cheap
// (graph-passes.ts), the memory policy (memory.ts); here, the block loop that evaluates them
// (`kernelTensor`, `kernelHierarchy`). The hierarchy's public names stay importable from here.
export {
  MAX_ORDER, KernelUsageError, checkOrder, deriveKernel, deriveRowKernel, kernelGraph, testView,
  type KernelDerivation, type RowKernelDerivation, type IndexGraph, type IndexSource, type IndexSpace,
} from './derive.ts';
export { reassociate } from './graph-passes.ts';
export { memoryLimit, checkKernelMemory } from './memory.ts';


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
   * Dh·(Dhᵀ·e_i), never forming the Jacobian; 'gram' (order 2, row-separable models only):
   * per-parameter Gram products (Δ_PΔ_Pᵀ)∘(U_PU_Pᵀ) of per-row factors (`nth/gram.ts`);
   * 'auto' (default): at order 2 'gram' when it applies and the product is large, else rows
   * when the model is separable (and, at order 2, the product large), else for the NTK the
   * cheaper of the dense Jacobian and the products that fits in memory (a flop estimate).
   */
  structure?: 'auto' | 'rows' | 'dense' | 'products' | 'gram';
  /**
   * A `.npy` writer of shape [k, k] for the whole NTK (order 2, no slice): where the Gram path is
   * taken, K is streamed into it panel by panel, never held whole, and the result's `data` is
   * empty (`streamed: true`, its summary in `stats`); on any other path `data` is returned as
   * usual and the caller writes it. The caller commits (or aborts) the writer.
   */
  out?: NpyWriter;
  /**
   * 'test': the first index ranges over the kt test outputs g of the model's `test`
   * declaration, the others over the training outputs: the mixed kernel K^(r)(x, a2..ar) of the
   * stacked outputs [h; g] (eq. 2.11), shape [kt, k, …, k]; a slice's first index is then a test
   * output. Default 'train'.
   */
  firstIndex?: 'train' | 'test';
  /**
   * Told how far the entries are, in thousandths (non-decreasing, ending at 1000): the blocks of
   * b done, each counted by the instructions of its plan run so far (one block of a high order
   * can take minutes).
   */
  onProgress?: (done: number, total: number) => void;
  /**
   * Told what runs before the blocks (r ≥ 3): building the graph of K^(r) (with its node count
   * as it grows: `running` true), then compiling its plan.
   */
  onStatus?: (what: string, running?: boolean) => void;
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
  /** How it was computed: see `KernelOptions.structure` ('gram': blocks are K's panels of rows). */
  structure: 'rows' | 'dense' | 'products' | 'gram';
  /** With structure 'gram': which parameters were factored and which entered by explicit gradients. */
  gram?: GramStructure;
  /** True when K went to `KernelOptions.out` (then `data` is empty and `stats` summarizes K). */
  streamed?: boolean;
  stats?: KernelStats;
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
  const g = ev.model.graph;
  if (!opts.onStatus || r <= 2) return kernelBlocks(ev, r, opts);
  // The graph's growth is the progress of the derivation (it may take minutes at high orders).
  const tell = opts.onStatus, before = g.size;
  tell(`building the graph of K^(${r}) (derivatives of order ${r})`);
  g.onGrow = (n) => tell(`building the graph of K^(${r}) (derivatives of order ${r}): ${n - before} new nodes`, true);
  try {
    return kernelBlocks(ev, r, opts);
  } finally {
    g.onGrow = null;
  }
}

/** `kernelTensor` itself: the memory checks, the graph, its plan, and the block loop. */
function kernelBlocks(ev: Evaluator, r: number, opts: KernelOptions): KernelTensor {
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
  if (opts.structure === 'gram' && (r !== 2 || test)) throw new KernelUsageError(`structure 'gram' (Gram products) is for the NTK of the training outputs, order 2, not ${test ? 'the mixed kernel' : `K^(${r})`}`);
  if (opts.structure === 'gram' && !gramStructure(m)) throw new KernelUsageError('structure gram: the model is not row-separable, or no parameter enters it as a matrix-vector product; use --structure dense');
  const srcFor = () => indexSource(ev, opts.structure === 'products' || opts.structure === 'gram' || opts.structure === undefined ? 'auto' : opts.structure);
  if (test) checkMixedMemory(k1, k, r, fixed, limit);
  else if (r > 2) checkKernelMemory(k, r, fixed, limit, (j) => blockFits(ev, srcFor(), r, j, limit));
  else checkKernelMemory(k, r, fixed, limit);
  const shape = Array<number>(r - fixed).fill(k);
  if (test && fixed === 0) shape[0] = k1;

  // K^(2) = J·Jᵀ costs 2k²p flops once J is known. For a row-separable model the generator's
  // factored inner products (a weight matrix's per-row gradient is an outer product δ·zᵀ, so
  // ⟨δ_a z_aᵀ, δ_b z_bᵀ⟩ = (δ_a·δ_b)(z_a·z_b)) cost O(k²·(m_in + m_out)) per matrix instead: the
  // structured NTK. Taken when the dense product would be large (a flop estimate).
  // Cheaper still (nth/gram.ts): per-parameter Gram products of per-row factors, by syrk/gemm
  // panels — the order-2 NTK of every row-separable model whose parameters it can factor.
  const auto = opts.structure === 'auto' || opts.structure === undefined;
  if (r === 2 && !test && (opts.structure === 'gram' || (auto && gramPreferred(ev, limit)))) {
    const out = fixed === 0 ? opts.out : undefined;
    const G = gramNtk(ev, w, { limit, ...(out ? { out } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) });
    const data = out ? new Float64Array(0) : fixed === 0 ? G.data! : G.data!.slice(slice[0]! * k, (slice[0]! + 1) * k);
    return { order: 2, shape, data, slice, blocks: G.panels, blockSize: G.panelRows, structure: 'gram', gram: G.structure, warnings: [], ...(out ? { streamed: true, stats: G.stats } : {}) };
  }
  const structured =
    r === 2 && !test && (opts.structure === 'rows' || auto && 2 * k * k * ev.p > STRUCTURED_K2_FLOPS && indexSource(ev, 'auto').kind === 'rows');
  if (r === 2 && !structured) {
    // Any model: J·Jᵀ from the Jacobian, or k NTK-vector products Dh·(Dhᵀ·e_i) when J would not
    // fit in memory or when they cost fewer flops (a JVP cheaper than k·p: few outputs, or
    // outputs that each read a small part of the model).
    const viaProducts = !test && (opts.structure === 'products' || (opts.structure !== 'dense' && productsPreferred(ev, limit)));
    if (!test && !viaProducts) ensureNtkMemory(k, ev.p, limit, 'drop --structure dense (NTK-vector products hold no Jacobian), or compute it in tiles: --tiles B --out K.npy');
    const K = test ? ev.crossKernel(w) : viaProducts ? ntkByProducts(ev, w) : ntkFromJacobian(ev, ev.jacobian(w));
    const data = fixed === 0 ? K : fixed === 1 ? K.slice(slice[0]! * k, (slice[0]! + 1) * k) : K;
    return { order: 2, shape, data, slice, blocks: 1, blockSize: k, structure: viaProducts ? 'products' : 'dense', warnings: [] };
  }
  if (opts.structure === 'products') throw new KernelUsageError(`structure 'products' (NTK-vector products) is for the NTK, order 2, not K^(${r})`);

  // The symmetric half (2) needs an index beyond the first two: not at r = 2.
  const symmetric = r > 2 && !test && fixed === 0 && (opts.symmetric ?? true);
  const want = opts.structure === undefined || opts.structure === 'gram' ? 'auto' : opts.structure; // 'gram' returned above
  const src = indexSource(ev, want);
  const first = test ? { m: testView(m), src: indexSource(ev, want, 'test') } : undefined;
  const entries = shape.reduce((a, b) => a * b, 1);
  const resultBytes = entries * 8 * (symmetric ? 2 : 1);
  const budgetValues = Math.max(1, Math.floor((limit - resultBytes) / 8));
  let B: number, built: Batched, plan: ReturnType<Evaluator['plan']>;
  try {
    B = Math.min(k, opts.blockSize ?? chooseBlock(ev, src, r, fixed, symmetric, budgetValues, first));
    built = batchedGraph(ev, src, r, fixed, symmetric, B, first);
    opts.onStatus?.(`compiling the plan of K^(${r}) (${m.graph.size} graph nodes)`);
    plan = ev.plan(built.key, [built.value], built.indices[r - 1]!, { fuse: KERNEL_FUSE, memoryChecked: true });
  } catch (e) {
    if (!(e instanceof GraphSizeError)) throw e;
    throw new MemoryError(`building K^(${r}) with ${r - fixed} free ${r - fixed === 1 ? 'index' : 'indices'}: ${e.message}${test ? '' : fewerFree(ev, src, r, fixed, limit)}`);
  }
  const last = built.indices[r - 1]!;
  if (plan.peakValues > budgetValues)
    throw new MemoryError(
      `one block of K^(${r}) needs ${fmtBytes(plan.peakValues * 8)} of buffers, more than the ${fmtBytes(budgetValues * 8)} left${test ? '; fix more leading indices with --slice' : fewerFree(ev, src, r, fixed, limit)}`,
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
  const nBlocks = Math.ceil(k / B);
  opts.onStatus?.(`computing the entries of K^(${r}): ${nBlocks} block${nBlocks > 1 ? 's' : ''} of ${B} of the ${k} outputs`);
  const progress = new Thousandths(opts.onProgress);
  progress.start();
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
    const out = plan.run(bind, { copy: false, ...(progress.on ? { onStep: (i: number, n: number) => progress.at((blocks + i / n) / nBlocks) } : {}) })[0]!;
    // the block's columns b0 … b0 + count − 1 of every row (typed-array copies: a process that
    // computes one kernel runs this once, before V8 would have compiled a loop of k² steps)
    if (B === k && b0 === 0) F.set(out.subarray(0, rows * k));
    else for (let row = 0; row < rows; row++) F.set(out.subarray(row * B, row * B + count), row * k + b0);
    blocks++;
    progress.at(blocks / nBlocks);
  }
  progress.end();
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
/**
 * Whether K^(r) with `fixed` leading indices fits `limit` bytes: its result (k^(r−fixed) values)
 * and the buffers of one block of the smallest size (B = 1), the least `kernelTensor` needs. A
 * graph too large for the budget (GraphSizeError) does not fit. The check builds that graph, so
 * it is a probe of at most PROBE_NODES new nodes (a few seconds): null when the graph is larger
 * than that (unknown — high orders, whose graphs take minutes to build, are not probed).
 */
function blockFits(ev: Evaluator, src: IndexSource, r: number, fixed: number, limit: number): boolean | null {
  const result = ev.k ** (r - fixed) * 8 * (fixed === 0 ? 2 : 1);
  if (result > limit) return false;
  const g = ev.model.graph;
  g.probeLimit = g.size + PROBE_NODES;
  try {
    const b = batchedGraph(ev, src, r, fixed, fixed === 0, 1);
    return ev.plan(b.key, [b.value], b.indices[r - 1], { fuse: KERNEL_FUSE, memoryChecked: true }).peakValues * 8 <= limit - result;
  } catch (e) {
    if (!(e instanceof GraphSizeError)) throw e;
    return g.size >= g.probeLimit - GRAPH_CHECK_SLACK && g.probeLimit < graphNodeLimit() ? null : false;
  } finally {
    g.probeLimit = Infinity;
  }
}
/** New graph nodes a probe of `blockFits` may build. */
const PROBE_NODES = 100_000;
/** `Graph.node` checks its size every 4096 nodes: a refusal comes at most that far past a limit. */
const GRAPH_CHECK_SLACK = 4096;

/**
 * What to try when K^(r) with `fixed` leading indices cannot be computed within `limit`: the
 * smallest slice that can (checked, `blockFits`), or that none can. A clause to append.
 */
function fewerFree(ev: Evaluator, src: IndexSource, r: number, fixed: number, limit: number): string {
  for (let j = fixed + 1; j <= r - 1; j++) {
    const fits = blockFits(ev, src, r, j, limit);
    if (fits) return `; fix more leading indices: --slice ${Array(j).fill(0).join(',')} (${j} of them) fits`;
    if (fits === null) return `; fix more leading indices with --slice (e.g. --slice ${Array(j).fill(0).join(',')}; its graph is too large to check here first), lower the order, or raise --max-memory`;
  }
  return `; even with ${r - 1} fixed indices it does not fit: raise --max-memory, lower the order, or take a smaller model`;
}

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
