/**
 * Numbers from a model: binds the data and a flat weight vector w to compiled plans of the
 * derivative graphs of `ad/derivatives.ts`, caching each plan.
 *
 * The Jacobian is computed in blocks of rows (reverse mode, k ≤ p) or of columns (forward
 * mode, p < k): one graph batched over a block of unit (co)tangents by `vmap`, its forward pass
 * cached across blocks, the block size chosen so that one block's buffers fit a memory budget.
 *
 * With a `test` declaration the same machinery serves the test outputs g: R^p → R^kt (the
 * model on held-out inputs): `testOutput`, `testJvp`, `testJacobian`, and the cross kernel
 * Dg(w)·Dh(w)ᵀ (kt × k), Θ̂(x, X) of docs/math.md §2 eq. 19.
 */
import { directional, gradLoss, hvpLoss, jvpFlat, vjpFlat, flatOutput, lossGraph, outputHvp } from '../ad/derivatives.ts';
import { vmap } from '../ad/vmap.ts';
import { vjp } from '../ad/transpose.ts';
import type { NodeId } from '../ir/graph.ts';
import type { Model } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';
import { pairBlock, rowRestriction } from '../ir/rows.ts';
import { fmtBytes, memoryBudget, MemoryError, resultLimit } from '../runtime/memory.ts';
import type { Backend } from '../runtime/backend.ts';
import { compile, type Bindings, type Plan } from '../runtime/compile.ts';
import { defaultBackend } from '../runtime/backends.ts';

/**
 * How `jacobian` (and `ntk` through it) forms Dh(w): forward or reverse mode, and memory per block.
 */
export interface JacobianOptions {
  /** 'reverse' (rows by VJPs), 'forward' (columns by JVPs) or 'auto' (fewer passes). */
  mode?: 'auto' | 'forward' | 'reverse';
  /** Max float64 values one block's buffers may hold (default 16M = 128 MB). */
  blockBudget?: number;
  /** Force a block size (tests). */
  blockSize?: number;
  /**
   * 'rows': one-row backward passes for a row-separable model (each output row depends on one
   * data row; `ir/rows.ts`), 'dense': whole-model passes; 'auto' (default): rows when the model
   * is row-separable and the mode is reverse.
   */
  structure?: 'auto' | 'rows' | 'dense';
  /** Called after each block with the number of unit vectors done and the total. */
  onProgress?: (done: number, total: number) => void;
  /**
   * Where to write the Jacobian (at least k·p values; returned as its first k·p): a caller that
   * computes Jacobians again and again (a flow's refreshes) reuses one buffer instead of
   * touching 8kp fresh bytes of memory each time.
   */
  out?: Float64Array;
  /**
   * Only the rows r0 ≤ a < r1 of Dh (the gradients ∇h_a of those outputs), row-major
   * (r1 − r0)×p: what a tile of the kernel, Dh_I·Dh_Jᵀ, needs without the whole Jacobian.
   * Reverse mode (and the row-separable path) push only those unit cotangents; forward mode
   * (p < k) computes the whole Jacobian, k·p < k² values, and copies the rows out.
   */
  rows?: [number, number];
}

/** The caller's buffer (its first `size` values, checked) or a fresh one. */
function jacobianBuffer(out: Float64Array | undefined, size: number): Float64Array {
  if (!out) return new Float64Array(size);
  if (out.length < size) throw new Error(`jacobian: the out buffer has ${out.length} values, expected at least ${size}`);
  return out.length === size ? out : out.subarray(0, size);
}

/** Which flat output a Jacobian is of: the model h (k outputs) or the test outputs g (kt). */
type Which = 'h' | 'test';

import { ensureMemory } from '../runtime/memory.ts';

const DEFAULT_BLOCK_BUDGET = 16 * 1024 * 1024;

/**
 * The bytes of a Jacobian's blocks while it is computed (the batched plan's buffers for a block
 * of rows), for the working-set estimates: at most the block budget (16M values), and about 1.5
 * values a Jacobian entry when the rows fit fewer blocks (measured: 76 MB for a 200 × 33,792 J of
 * 54 MB, 95 MB for a 400 × 67,584 J — the budget's cap).
 * @example jacobianBlockBytes(200, 33_792) // 12·6.8·10⁶ ≈ 81 MB
 */
export function jacobianBlockBytes(k: number, p: number): number {
  return Math.min(8 * DEFAULT_BLOCK_BUDGET, 12 * k * p);
}

/**
 * A model's compiled plans: h(w), Dh(w)·v, Dh(w)ᵀ·u, Jacobians in blocks, the loss and its
 * derivatives, on the chosen backend. `evaluator(model)` returns the cached one.
 * @example const ev = evaluator(model); ev.jacobian(model.w0)   // Dh(w0), k × p row-major
 */
export class Evaluator {
  readonly model: Model;
  readonly backend: Backend;
  readonly k: number;
  readonly p: number;
  /** Number of test outputs kt (0 when the model has no `test` declaration). */
  readonly kt: number;
  private readonly plans = new Map<string, { plan: Plan; ins: NodeId[] }>();
  private readonly graphs = new Map<string, unknown>();
  /** Work done by the last `jacobian` call: floating-point operations, blocks, block size. */
  lastJacobian: { flops: number; blocks: number; blockSize: number; mode: 'forward' | 'reverse' } | null = null;

  constructor(model: Model, backend: Backend = defaultBackend()) {
    this.model = model;
    this.backend = backend;
    this.k = sizeOf(model.outputShape);
    this.p = model.paramCount;
    this.kt = model.test ? sizeOf(model.test.shape) : 0;
  }

  /** Bindings for every parameter (views into w) and data input, plus `extra`. */
  bindings(w: Float64Array, extra: [NodeId, Float64Array][] = []): Bindings {
    const m = this.model;
    if (w.length !== m.paramCount) throw new Error(`w has ${w.length} values, the model has ${m.paramCount} parameters`);
    const b: Bindings = new Map();
    for (const q of m.params) b.set(q.node, w.subarray(q.offset, q.offset + q.size));
    for (const d of m.data) b.set(d.node, d.value);
    for (const [n, v] of extra) b.set(n, v);
    return b;
  }

  /** A graph construction, built once per key. */
  private built<T>(key: string, build: () => T): T {
    if (!this.graphs.has(key)) this.graphs.set(key, build());
    return this.graphs.get(key) as T;
  }

  /** A compiled plan, once per key. */
  plan(key: string, outputs: NodeId[], varying: NodeId[] = [], opts: { fuse?: boolean | 'backend'; memoryChecked?: boolean } = {}): Plan {
    let entry = this.plans.get(key);
    if (!entry) {
      const { memoryChecked, ...copts } = opts;
      entry = { plan: compile(this.model.graph, outputs, { varying, backend: this.backend, ...copts }), ins: varying };
      // Its buffers are allocated when it first runs: refused now if they cannot fit (unless the
      // caller compares them with its own share of the budget and says what to change).
      if (!memoryChecked) ensureMemory(entry.plan.peakValues * 8, `evaluating the model (${key}: ${entry.plan.peakValues.toExponential(2)} values of buffers)`,
        'use smaller dims (--set NAME=…) or a larger --max-memory');
      this.plans.set(key, entry);
    }
    return entry.plan;
  }

  /** h(w), flattened to R^k. */
  output(w: Float64Array): Float64Array {
    const out = this.built('h', () => flatOutput(this.model));
    return this.plan('h', [out]).run(this.bindings(w))[0]!;
  }

  /** Dh(w)·v ∈ R^k. */
  jvp(w: Float64Array, v: Float64Array): Float64Array {
    const f = this.built('jvp', () => jvpFlat(this.model));
    return this.plan('jvp', [f.out], [f.v]).run(this.bindings(w, [[f.v, v]]))[0]!;
  }

  /** Dh(w)ᵀ·u ∈ R^p. */
  vjp(w: Float64Array, u: Float64Array): Float64Array {
    const f = this.built('vjp', () => vjpFlat(this.model));
    return this.plan('vjp', [f.out], [f.u]).run(this.bindings(w, [[f.u, u]]))[0]!;
  }

  /**
   * u ↦ Dh(w)ᵀ·u at a fixed w (copied once): the forward pass runs on the first call only, each
   * further call costs one reverse sweep. For the many VJPs of a flow's linearization at w0.
   */
  vjpAt(w: Float64Array): (u: Float64Array) => Float64Array {
    const f = this.built('vjp', () => vjpFlat(this.model));
    const plan = this.plan('vjp-at', [f.out], [f.u]);
    const u0 = new Float64Array(this.k);
    const bind = this.bindings(w.slice(), [[f.u, u0]]);
    return (u) => {
      bind.set(f.u, u);
      return plan.run(bind)[0]!;
    };
  }

  /** The square loss's target y* (flattened), or null for another loss. */
  target(): Float64Array | null {
    const loss = this.model.loss;
    if (!loss || loss.kind !== 'square') return null;
    const g = this.model.graph;
    const flat = this.built('target', () => g.reshape(loss.target, [this.k]));
    return this.plan('target', [flat]).run(this.bindings(this.model.w0))[0]!;
  }

  /** The flat test-output node g (shape [kt]); throws when the model declares no `test`. */
  private testNode(): NodeId {
    const t = this.model.test;
    if (!t) throw new Error("the model declares no test outputs: add 'test NAME = expression'");
    return t.output;
  }

  /**
   * g(w) ∈ R^kt: the model's outputs on the held-out inputs of its `test` declaration.
   * @example const g0 = ev.testOutput(model.w0); // f_0(x) for every test input x
   */
  testOutput(w: Float64Array): Float64Array {
    const g = this.testNode();
    return this.plan('test', [g]).run(this.bindings(w))[0]!;
  }

  /**
   * Dg(w)·v ∈ R^kt (forward mode): how the test outputs move when the weights move along v.
   * @example ev.testJvp(w0, deltaW) // ∇_θ f_0(x)·ω of eq. 19 for every test input x
   */
  testJvp(w: Float64Array, v: Float64Array): Float64Array {
    const f = this.built('test-jvp', () => jvpFlat(this.model, this.testNode()));
    return this.plan('test-jvp', [f.out], [f.v]).run(this.bindings(w, [[f.v, v]]))[0]!;
  }

  /**
   * v ↦ Dg(w)·v at a fixed w (copied once): the forward pass runs on the first call only, each
   * further call costs one tangent sweep. For predictions at many times of a flow.
   */
  testJvpAt(w: Float64Array): (v: Float64Array) => Float64Array {
    const f = this.built('test-jvp', () => jvpFlat(this.model, this.testNode()));
    const plan = this.plan('test-jvp-at', [f.out], [f.v]);
    const bind = this.bindings(w.slice(), [[f.v, new Float64Array(this.p)]]);
    return (v) => {
      bind.set(f.v, v);
      return plan.run(bind)[0]!;
    };
  }

  /** The test target y_t (flattened, [kt]) of `test …, target = …`, or null when none. */
  testTarget(): Float64Array | null {
    const t = this.model.test;
    if (!t || t.target === null) return null;
    return this.plan('test-target', [t.target]).run(this.bindings(this.model.w0))[0]!;
  }

  /** D^k h(w)[v1, …, vk] ∈ R^k for k = vs.length. */
  directional(w: Float64Array, vs: Float64Array[]): Float64Array {
    const key = `dir${vs.length}`;
    const f = this.built(key, () => directional(this.model, vs.length));
    return this.plan(key, [f.out], f.vs).run(this.bindings(w, f.vs.map((v, i) => [v, vs[i]!])))[0]!;
  }

  /**
   * D²h(w)[v, ·]ᵀ·u ∈ R^p: the Hessian of ⟨u, h⟩ at w applied to v (forward over reverse).
   * @example ev.outputHvp(w, v, u) // for h = b·w²/2: b·v·u
   */
  outputHvp(w: Float64Array, v: Float64Array, u: Float64Array): Float64Array {
    const f = this.built('output-hvp', () => outputHvp(this.model));
    return this.plan('output-hvp', [f.out], [f.u, f.v]).run(this.bindings(w, [[f.u, u], [f.v, v]]))[0]!;
  }

  /** L(w) = R(α·h(w)). */
  loss(w: Float64Array, alpha = 1): number {
    const f = this.built('loss', () => lossGraph(this.model));
    return this.plan('loss', [f.value]).run(this.bindings(w, [[f.alpha, Float64Array.of(alpha)]]))[0]![0]!;
  }

  /** Floating-point operations of one `grad` call (its plan's work per run), for cost models. */
  gradFlops(): number {
    const f = this.built('grad', () => gradLoss(this.model));
    const { fixed, varying } = this.plan('grad', [f.value, f.grad]).flops;
    return fixed + varying;
  }

  /**
   * The loss as a function of the outputs, R(v) and ∇R(v) for v ∈ R^k (flat): what the flow of
   * the linearized model needs in function space, dv̄/dt = −K0 ∇R(v̄).
   * @example ev.outputLoss(Float64Array.of(0.5)).grad   // v − y* for the square loss
   */
  outputLoss(v: Float64Array): { value: number; grad: Float64Array } {
    const f = this.built('outputLoss', () => {
      const g = this.model.graph, loss = this.model.loss;
      if (!loss) throw new Error('the model declares no loss');
      const vIn = loss.kind === 'custom' ? loss.v : g.input('v', 'var', this.model.outputShape);
      const value = loss.kind === 'custom' ? loss.value : g.mul(g.constant(0.5), g.sumAll(g.mul(g.sub(vIn, loss.target), g.sub(vIn, loss.target))));
      const [grad] = vjp(g, [value], [g.constant(1)], [vIn]);
      return { vIn, value, grad: g.reshape(grad!, [this.k]) };
    });
    const [value, grad] = this.plan('outputLoss', [f.value, f.grad]).run(this.bindings(this.model.w0, [[f.vIn, v]]));
    return { value: value![0]!, grad: grad! };
  }

  /**
   * (L(w), ∇L(w)). With `{ copy: false }` the gradient is a view into the plan's buffer, valid
   * until the next `grad` call (no 8p-byte copy and allocation per call: an ODE's right-hand
   * side that consumes it at once).
   * @example const { grad } = ev.grad(w, alpha, { copy: false }); for (…) dy[i] = −grad[i];
   */
  grad(w: Float64Array, alpha = 1, opts: { copy?: boolean } = {}): { value: number; grad: Float64Array } {
    const f = this.built('grad', () => gradLoss(this.model));
    const [value, grad] = this.plan('grad', [f.value, f.grad]).run(this.bindings(w, [[f.alpha, Float64Array.of(alpha)]]), opts);
    return { value: value![0]!, grad: grad! };
  }

  /** ∇²L(w)·v. */
  hvp(w: Float64Array, v: Float64Array, alpha = 1): Float64Array {
    const f = this.built('hvp', () => hvpLoss(this.model));
    return this.plan('hvp', [f.out], [f.v]).run(this.bindings(w, [[f.alpha, Float64Array.of(alpha)], [f.v, v]]))[0]!;
  }

  /**
   * The Jacobian Dh(w) as a row-major k×p array.
   *
   * Reverse mode evaluates Dhᵀ·U for a block U of B unit cotangents at once (one vmapped VJP),
   * forward mode Dh·V for B unit tangents; both reuse the forward pass across blocks.
   */
  jacobian(w: Float64Array, opts: JacobianOptions = {}): Float64Array {
    return this.jacobianOf('h', w, opts);
  }

  /**
   * The Jacobian Dg(w) of the test outputs as a row-major kt×p array (same blocks and modes as
   * `jacobian`; the mode is chosen by kt against p).
   * @example const Jt = ev.testJacobian(model.w0); // row i is ∇_θ f_0(x_i)
   */
  testJacobian(w: Float64Array, opts: JacobianOptions = {}): Float64Array {
    this.testNode();
    return this.jacobianOf('test', w, opts);
  }

  /**
   * The cross kernel Θ̂(x, X) = Dg(w)·Dh(w)ᵀ ∈ R^{kt×k} (row-major): entry (i, a) is
   * ⟨∇g_i(w), ∇h_a(w)⟩, the empirical NTK between test output i and training output a
   * (docs/math.md §2, eq. 19). One GEMM of the two Jacobians; pass them if already computed.
   * @example const C = ev.crossKernel(model.w0, { jacobian: J0 }); // kt × k
   */
  crossKernel(w: Float64Array, opts: JacobianOptions & { jacobian?: Float64Array; testJacobian?: Float64Array } = {}): Float64Array {
    const { k, p, kt } = this;
    this.testNode();
    if (kt * k * 8 > resultLimit()) throw new MemoryError(`the cross kernel has ${kt}×${k} entries (${fmtBytes(kt * k * 8)}), more than the ${fmtBytes(resultLimit())} a result may take (--max-memory): too large to hold`);
    const J = opts.jacobian ?? this.jacobian(w, opts);
    const Jt = opts.testJacobian ?? this.testJacobian(w, opts);
    if (J.length !== k * p || Jt.length !== kt * p) throw new Error(`crossKernel: Jacobians of sizes ${J.length} and ${Jt.length}, expected ${k}×${p} and ${kt}×${p}`);
    const C = new Float64Array(kt * k);
    this.backend.gemm(false, true, kt, k, p, 1, Jt, 0, p, J, 0, p, 0, C, 0, k);
    return C;
  }

  /** The Jacobian of the flat output `which` (h: k rows, test: kt rows) as a row-major array. */
  private jacobianOf(which: Which, w: Float64Array, opts: JacobianOptions): Float64Array {
    const p = this.p;
    const k = which === 'h' ? this.k : this.kt;
    const what = which === 'h' ? 'the Jacobian' : 'the test Jacobian';
    const [r0, r1] = opts.rows ?? [0, k];
    if (!(Number.isInteger(r0) && Number.isInteger(r1) && 0 <= r0 && r0 <= r1 && r1 <= k))
      throw new RangeError(`jacobian: rows [${r0}, ${r1}) are not a range of 0..${k}`);
    const mode = opts.mode === 'forward' || (opts.mode !== 'reverse' && p < k) ? 'forward' : 'reverse';
    if (opts.rows && (r0 !== 0 || r1 !== k) && mode === 'forward') {
      const { rows: _, out, ...rest } = opts;
      const whole = this.jacobianOf(which, w, rest);
      const J = jacobianBuffer(out, (r1 - r0) * p);
      J.set(whole.subarray(r0 * p, r1 * p));
      return J;
    }
    const kr = mode === 'reverse' ? r1 - r0 : k; // rows of the result
    if (kr * p * 8 > resultLimit())
      throw new MemoryError(`${what} has ${kr}×${p} entries (${fmtBytes(kr * p * 8)}), more than the ${fmtBytes(resultLimit())} a result may take (--max-memory): too large to hold; use kernel-vector products or fewer outputs`);
    if (which === 'h' && (mode === 'reverse' || opts.structure === 'rows') && opts.structure !== 'dense') {
      const J = this.rowJacobian(w, opts);
      if (J) return J;
      if (opts.structure === 'rows') throw new Error('structure rows: the model is not row-separable');
    }
    // unit vectors to push through: e_a for the rows r0 ≤ a < r1 (reverse), every e_j (forward)
    const dim = mode === 'reverse' ? k : p; // their length
    const first = mode === 'reverse' ? r0 : 0;
    const rows = mode === 'reverse' ? r1 - r0 : p;
    const B = Math.max(1, Math.min(rows, opts.blockSize ?? this.blockSize(which, mode, opts.blockBudget ?? DEFAULT_BLOCK_BUDGET)));
    const { unit, out } = this.batched(which, mode, B);
    const plan = this.plan(`${which === 'h' ? '' : 'test-'}jac-${mode}-${B}`, [out], [unit]);
    const E = new Float64Array(B * dim);
    const bind = this.bindings(w, [[unit, E]]);
    const J = jacobianBuffer(opts.out, kr * p);
    for (let start = 0; start < rows; start += B) {
      const count = Math.min(B, rows - start);
      E.fill(0);
      for (let i = 0; i < count; i++) E[i * dim + first + start + i] = 1;
      // [B, p] rows of J (reverse: a whole block is written into J itself) or [B, k] columns
      const whole = mode === 'reverse' && count === B;
      const block = plan.run(bind, whole ? { into: J.subarray(start * p, (start + B) * p) } : { copy: false })[0]!;
      if (mode === 'reverse') {
        if (!whole) J.set(block.subarray(0, count * p), start * p);
      } else for (let i = 0; i < count; i++) for (let r = 0; r < k; r++) J[r * p + start + i] = block[i * k + r]!;
      opts.onProgress?.(start + count, rows);
    }
    const blocks = Math.ceil(rows / B);
    this.lastJacobian = { flops: plan.flops.fixed + blocks * plan.flops.varying, blocks, blockSize: B, mode };
    return J;
  }

  /**
   * NTK-vector products K(w)·u_i = Dh(w)·(Dh(w)ᵀ·u_i) for the b vectors u_i, the rows of U
   * (b×k, row-major); the result is b×k. Each block of B vectors is one batched VJP (B×p)
   * followed by one batched JVP, so the Jacobian (k×p) is never formed: memory B·p. The
   * forward pass at w is computed once and reused by every block.
   * @example const Ke0 = ev.ntkProducts(model.w0, unit(k, 0));  // the first column of K(w0)
   */
  ntkProducts(w: Float64Array, U: Float64Array, opts: { blockSize?: number; blockBudget?: number } = {}): Float64Array {
    const { k, p } = this;
    const b = U.length / k;
    if (!Number.isInteger(b)) throw new Error(`ntkProducts: U has ${U.length} values, not a multiple of k = ${k}`);
    const out = new Float64Array(b * k);
    if (b === 0) return out;
    const B = Math.min(b, opts.blockSize ?? this.productBlock(opts.blockBudget ?? DEFAULT_BLOCK_BUDGET));
    const rev = this.batched('h', 'reverse', B), fwd = this.batched('h', 'forward', B);
    const back = this.plan(`jac-reverse-${B}`, [rev.out], [rev.unit]);
    const forth = this.plan(`jac-forward-${B}`, [fwd.out], [fwd.unit]);
    const Ub = new Float64Array(B * k), G = new Float64Array(B * p);
    const bindBack = this.bindings(w, [[rev.unit, Ub]]);
    const bindForth = this.bindings(w, [[fwd.unit, G]]);
    for (let start = 0; start < b; start += B) {
      const count = Math.min(B, b - start);
      Ub.fill(0);
      Ub.set(U.subarray(start * k, (start + count) * k));
      G.set(back.run(bindBack, { copy: false })[0]!); // rows Dhᵀ·u_i
      out.set(forth.run(bindForth, { copy: false })[0]!.subarray(0, count * k), start * k);
    }
    return out;
  }

  /**
   * Floating-point operations of the two ways to the NTK at the model's w: 'dense' (the Jacobian
   * by blocks of VJPs, then J·Jᵀ's upper half, k²p) and 'products' (k NTK-vector products).
   * Plans are compiled (and cached) to count; nothing is evaluated.
   */
  ntkFlops(blockBudget = DEFAULT_BLOCK_BUDGET): { dense: number; products: number } {
    const { k, p } = this;
    const count = (mode: 'forward' | 'reverse', B: number) => {
      const f = this.batched('h', mode, B);
      const { fixed, varying } = this.plan(`jac-${mode}-${B}`, [f.out], [f.unit]).flops;
      return { fixed, varying, blocks: Math.ceil(k / B) };
    };
    const Bj = Math.min(k, this.blockSize('h', 'reverse', blockBudget));
    const j = count('reverse', Bj);
    const Bp = Math.min(k, this.productBlock(blockBudget));
    const r = count('reverse', Bp), f = count('forward', Bp);
    return {
      dense: j.fixed + j.blocks * j.varying + k * k * p,
      products: r.fixed + f.fixed + r.blocks * (r.varying + f.varying),
    };
  }

  /** The block size of `ntkProducts`: both batched plans within the budget. */
  private productBlock(budget: number): number {
    const { k } = this;
    const rev = this.blockSizeOf(k, (b) => {
      const { unit, out } = this.batched('h', 'reverse', b);
      return { varying: [unit], out };
    }, budget);
    const fwd = this.blockSizeOf(k, (b) => {
      const { unit, out } = this.batched('h', 'forward', b);
      return { varying: [unit], out };
    }, budget);
    return Math.max(1, Math.min(rev, fwd));
  }

  /**
   * The Jacobian of a row-separable model (h_{i·c+a} depends on data row i alone, `ir/rows.ts`),
   * or null for any other model. Row i·c + a of Dh is ∇_w of output a of the ONE-row graph
   * evaluated at row i, so a block of B rows is one backward pass of the one-row graph batched
   * over B (row, unit cotangent) pairs: n times less work than B backward passes of the whole
   * model, which is what a structured per-example Jacobian is.
   */
  private rowJacobian(w: Float64Array, opts: JacobianOptions): Float64Array | null {
    const rm = this.built('rowModel', () => rowRestriction(this.model));
    if (!rm) return null;
    const { k, p } = this;
    const { c } = rm;
    const build = (b: number) =>
      this.built(`rowjac-${b}`, () => {
        const g = this.model.graph;
        const f = vjpFlat(this.model, rm.output);
        const unit = g.fresh('cotangent', [b, c], 'E');
        const rows = rm.rows.map((r) => g.fresh('data', [b, ...g.shape(r.row)], `${r.data.name}_rows`));
        const [out] = vmap(g, [f.out], new Map([[f.u, unit], ...rm.rows.map((r, j): [NodeId, NodeId] => [r.row, rows[j]!])]), [b]);
        return { varying: [unit, ...rows], out: out! };
      });
    const [r0, r1] = opts.rows ?? [0, k];
    const rows = r1 - r0;
    const B = Math.max(1, Math.min(rows, opts.blockSize ?? this.blockSizeOf(k, build, opts.blockBudget ?? DEFAULT_BLOCK_BUDGET, (b) => `rowjac-${b}`)));
    const { varying, out } = build(B);
    const plan = this.plan(`rowjac-${B}`, [out], varying);
    const blk = pairBlock(rm, B);
    const bind = this.bindings(w, [[varying[0]!, blk.E], ...blk.R.map((r, j): [NodeId, Float64Array] => [varying[j + 1]!, r])]);
    const J = jacobianBuffer(opts.out, rows * p);
    for (let start = 0; start < rows; start += B) {
      const count = Math.min(B, rows - start);
      blk.load(r0 + start, count);
      // a whole block's rows are written into J itself (no copy of p·B values)
      if (count === B) plan.run(bind, { into: J.subarray(start * p, (start + B) * p) });
      else J.set(plan.run(bind, { copy: false })[0]!.subarray(0, count * p), start * p);
      opts.onProgress?.(start + count, rows);
    }
    const blocks = Math.ceil(rows / B);
    this.lastJacobian = { flops: plan.flops.fixed + blocks * plan.flops.varying, blocks, blockSize: B, mode: 'reverse' };
    return J;
  }

  /** The graph Dᵀ·U (reverse) or D·V (forward) of output `which`, batched over B unit vectors. */
  private batched(which: Which, mode: 'forward' | 'reverse', B: number): { unit: NodeId; out: NodeId } {
    return this.built(`${which === 'h' ? '' : 'test-'}jac-${mode}-${B}`, () => {
      const g = this.model.graph;
      const of = which === 'h' ? flatOutput(this.model) : this.testNode();
      const f = mode === 'reverse' ? vjpFlat(this.model, of) : jvpFlat(this.model, of);
      const single = 'u' in f ? f.u : f.v;
      const unit = g.fresh(mode === 'reverse' ? 'cotangent' : 'tangent', [B, g.shape(single)[0]!], 'E');
      const [out] = vmap(g, [f.out], new Map([[single, unit]]), [B]);
      return { unit, out: out! };
    });
  }

  /** The largest block whose plan stays within `budget` values (peak grows linearly in B). */
  private blockSize(which: Which, mode: 'forward' | 'reverse', budget: number): number {
    const rows = mode === 'reverse' ? (which === 'h' ? this.k : this.kt) : this.p;
    return this.blockSizeOf(rows, (b) => {
      const { unit, out } = this.batched(which, mode, b);
      return { varying: [unit], out };
    }, budget, (b) => `${which === 'h' ? '' : 'test-'}jac-${mode}-${b}`);
  }

  /**
   * The same for any graph batched over b vectors: `build(b)` gives its output and varying inputs.
   * With `key` (the key under which the caller compiles its plan of b vectors) and a few hundred
   * rows at most, the plan of all rows is compiled first and taken if it fits: the run reuses it,
   * and the two plans that size the linear growth are not compiled at all (a flow's first
   * Jacobian on W2: ~15 ms).
   */
  private blockSizeOf(rows: number, build: (b: number) => { varying: NodeId[]; out: NodeId }, blockBudget: number, key?: (b: number) => string): number {
    // the block's buffers within the memory budget too (--max-memory): a smaller block, not a refusal
    const budget = Math.min(blockBudget, Math.floor(memoryBudget() / 8));
    let most = rows;
    if (key && rows <= 256) {
      const { varying, out } = build(rows);
      // compared here with the budget (a plan that does not fit is not run: a smaller block is)
      if (this.plan(key(rows), [out], varying, { memoryChecked: true }).peakValues <= budget) return rows;
      most = rows - 1;
    }
    const peak = (b: number) => {
      const { varying, out } = build(b);
      return compile(this.model.graph, [out], { varying, backend: this.backend }).peakValues;
    };
    const p1 = peak(1);
    if (rows === 1) return 1;
    const p2 = peak(2);
    const perRow = Math.max(1, p2 - p1);
    let B = Math.max(1, Math.min(most, Math.floor((budget - p1) / perRow) || 1));
    // Under a memory budget tighter than the block budget, the linear estimate is checked (it can
    // fall short by a few percent) and the block shrunk until its plan fits.
    if (budget < blockBudget)
      for (let i = 0, pb = peak(B); i < 8 && B > 1 && pb > budget; i++, pb = peak(B)) B = Math.max(1, Math.min(B - 1, Math.floor((B * budget) / pb)));
    return B;
  }
}
