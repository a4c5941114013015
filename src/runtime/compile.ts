/**
 * The compiler from a graph to an executable plan over Float64Arrays.
 *
 * A plan is a topological schedule of the cone of the requested outputs. Each node's value
 * lives in a buffer; buffers are assigned at compile time by simulating the schedule, so a
 * buffer is reused as soon as the last reader of its value has run, and no allocation happens
 * while a plan runs (after the first run). Reshapes alias their input's buffer.
 *
 * Nodes that depend only on "fixed" inputs (everything not listed as `varying`) are computed in
 * a first phase that is skipped when the same fixed arrays are bound again: a Jacobian computed
 * in blocks evaluates the forward pass once, then only the parts that depend on each block of
 * cotangents.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { isBinary, isUnary, unreachable, type Attrs, type Op, type UnaryOp } from '../ir/ops.ts';
import { shapeStr } from '../ir/shape.ts';
import type { Backend } from './backend.ts';
import { defaultBackend } from './backends.ts';
import { canFuse, findClusters, fusedProgram, programKernel, type Cluster, type FusedKernel } from './fuse.ts';

interface Instr {
  node: NodeId;
  op: Op;
  attrs: Attrs;
  shape: number[];
  /** Buffer indices of the inputs and of the output. */
  ins: number[];
  inShapes: number[][];
  out: number;
  /** A fused elementwise cluster rooted at `node` (ins: its leaves), and its work. */
  fused?: FusedKernel;
  fusedFlops?: number;
  /** A transpose computed as the outer product of its two inputs viewed with these shapes. */
  outer?: number[][];
  /** A 2-D product (or its transpose) as one gemm with transpose flags (see the constructor). */
  gemm?: GemmFold;
  /** A unary op of its input times this constant (see the constructor). */
  scale?: number;
}

/** op(A)·op(B), M×N with inner dimension K; `swap`: written transposed, N×M. */
interface GemmFold {
  transA: boolean;
  transB: boolean;
  swap: boolean;
  M: number;
  N: number;
  K: number;
}

interface Phase {
  instrs: Instr[];
}

export interface CompileOptions {
  /** Inputs that change between runs; nodes that depend on none of them are cached. */
  varying?: NodeId[];
  backend?: Backend;
  /**
   * Fuse chains of elementwise ops into generated loops (default: on, unless NTK_FUSE=0);
   * 'backend': only the clusters the backend runs with its own precompiled loops (wasm), none
   * that would be generated JavaScript — for plans that run once, where V8's warm-up of a fresh
   * function costs more than fusion saves.
   */
  fuse?: boolean | 'backend';
}

/** Fusion is on by default; NTK_FUSE=0 turns it off (to compare against the reference path). */
function fuseByDefault(): boolean {
  return typeof process === 'undefined' || process.env.NTK_FUSE !== '0';
}

/** A value bound to an input node: its data, row-major, of the input's size. */
export type Bindings = Map<NodeId, Float64Array>;

/**
 * A compiled graph: the outputs' nodes scheduled into kernel calls on one backend, with buffers
 * reused; `run` binds the inputs and returns the outputs.
 * @example const plan = compilePlan(model.graph, [model.output]); plan.inputs   // the nodes to bind
 */
export class Plan {
  readonly graph: Graph;
  readonly outputs: NodeId[];
  /** The input nodes the outputs depend on: each must be bound on `run`. */
  readonly inputs: NodeId[];
  readonly backend: Backend;
  private readonly pre: Phase;
  private readonly main: Phase;
  private readonly bufferSizes: number[];
  private readonly bufferViews: Map<number, { parent: number; offset: number }>;
  /** Whether the first output is computed by the varying phase (so on every run). */
  private readonly firstInMain: boolean;
  private buffers: Float64Array[] | null = null;
  /** Buffer of each node's value (inputs: filled from the bindings on run). */
  private readonly bufOf: Map<NodeId, number>;
  private readonly fixedInputs: NodeId[];
  private readonly varyingInputs: NodeId[];
  private lastFixed: Float64Array[] | null = null;
  /** Peak number of float64 values held at once, for memory guards. */
  readonly peakValues: number;
  /** Floating-point operations of one run of each phase (matmul 2·M·N·K, one per element otherwise). */
  readonly flops: { fixed: number; varying: number };

  constructor(g: Graph, outputs: NodeId[], opts: CompileOptions = {}) {
    this.graph = g;
    this.outputs = outputs;
    this.backend = opts.backend ?? defaultBackend();
    const cone = g.cone(outputs);
    const varyingSet = new Set(opts.varying ?? []);
    const dependsOnVarying = new Set<NodeId>();
    for (const n of cone)
      if (varyingSet.has(n) || g.args(n).some((a) => dependsOnVarying.has(a))) dependsOnVarying.add(n);
    this.inputs = cone.filter((n) => g.op(n) === 'input');
    this.varyingInputs = this.inputs.filter((n) => dependsOnVarying.has(n));
    this.fixedInputs = this.inputs.filter((n) => !dependsOnVarying.has(n));

    // ---- storage: one "storage" per value; reshape shares its input's storage.
    const storageOf = new Map<NodeId, NodeId>();
    for (const n of cone) storageOf.set(n, g.op(n) === 'reshape' ? storageOf.get(g.args(n)[0]!)! : n);

    // Pre nodes first, then main: still a topological order (pre never reads main).
    const order = [...cone.filter((n) => !dependsOnVarying.has(n)), ...cone.filter((n) => dependsOnVarying.has(n))];
    const position = new Map(order.map((n, k) => [n, k]));

    // ---- fusion: a cluster's members other than its root are not scheduled; the root reads
    // the cluster's leaves. `argsOf` is what each scheduled node reads from buffers.
    const clusterOf = new Map<NodeId, Cluster>();
    const inCluster = new Set<NodeId>();
    const backendKernels = new Map<Cluster, FusedKernel>();
    // NTK_FUSE=0 turns every kind of fusion off, the backend's own loops included
    const fuse = opts.fuse === 'backend' ? fuseByDefault() && 'backend' : opts.fuse ?? fuseByDefault();
    if (fuse && canFuse()) {
      const uses = new Map<NodeId, number>();
      for (const n of cone) for (const a of g.args(n)) uses.set(a, (uses.get(a) ?? 0) + 1);
      const vector = this.backend.vectorUnary;
      const apart = (n: NodeId) => vector !== undefined && isUnary(g.op(n)) && vector.has(g.op(n) as UnaryOp);
      for (const c of findClusters(g, order, uses, new Set(outputs), (n) => dependsOnVarying.has(n), apart)) {
        if (fuse === 'backend') {
          const own = this.backend.fused?.(fusedProgram(g, c)) ?? null;
          if (!own) continue;
          backendKernels.set(c, own);
        }
        clusterOf.set(c.members[c.members.length - 1]!, c);
        for (const m of c.members) if (!c.shared.includes(m)) inCluster.add(m);
      }
      // A shared member (a broadcast, or a cheap affine map: fuse.ts) is recomputed by every
      // cluster holding it, and materialized only if something still reads it from a buffer: a
      // cluster's leaf, the argument of a node computed on its own, a plan output. Start from
      // all of them dropped and keep those read by what runs; a kept one runs, and reads its
      // own arguments in turn, hence the fixed point.
      const dropped = new Set<NodeId>();
      for (const c of clusterOf.values()) for (const b of c.shared) if (!clusterOf.has(b) && !inCluster.has(b) && !outputs.includes(b)) dropped.add(b);
      for (let changed = dropped.size > 0; changed; ) {
        changed = false;
        for (const n of cone) {
          if (dropped.has(n) || (inCluster.has(n) && !clusterOf.has(n))) continue; // not run on its own
          for (const a of clusterOf.get(n)?.leaves ?? g.args(n)) if (dropped.delete(a)) changed = true;
        }
      }
      for (const b of dropped) inCluster.add(b);
    }
    // ---- outer products read transposed: a matmul with K = 1 is the elementwise product of
    // a [.., M, 1] and a [.., 1, N] (see `execute`); when its one reader swaps its last two axes,
    // the transpose computes B·A broadcast as [.., N, 1]·[.., 1, M] itself, in the transposed
    // layout (exact: IEEE products commute, a transpose moves values), and the matmul is not
    // scheduled. (A vmapped VJP of W2's U·x makes one: [64,8,1]·[64,1,1024], then [64,1024,8].)
    const outerOf = new Map<NodeId, { args: NodeId[]; shapes: number[][] }>();
    {
      const readers = new Map<NodeId, number>();
      for (const n of cone) for (const a of g.args(n)) readers.set(a, (readers.get(a) ?? 0) + 1);
      const swapLast = (s: readonly number[]) => [...s.slice(0, -2), s[s.length - 1]!, s[s.length - 2]!];
      for (const n of cone) {
        if (g.op(n) !== 'transpose' || inCluster.has(n)) continue;
        const m = g.args(n)[0]!;
        if (g.op(m) !== 'matmul' || outputs.includes(m) || readers.get(m) !== 1 || inCluster.has(m)) continue;
        const [a, b] = g.args(m) as [NodeId, NodeId];
        const sa = g.shape(a), sb = g.shape(b), perm = g.attrs(n).perm!, r = perm.length;
        if (sa.length < 2 || sb.length < 2 || sa[sa.length - 1] !== 1) continue;
        if (!perm.every((p, i) => (i < r - 2 ? p === i : p === (i === r - 2 ? r - 1 : r - 2)))) continue;
        outerOf.set(n, { args: [b, a], shapes: [swapLast(sb), swapLast(sa)] });
        inCluster.add(m);
      }
    }
    // ---- matrix products (2-D) whose operand is a transpose, or whose one reader transposes
    // them: gemm's transpose flags instead of transpose kernels. C = op(A)·op(B), or its
    // transpose written directly as Cᵀ = op(B)ᵀ·op(A)ᵀ (the same products summed in the same
    // order over K: a transpose only moves values). The folded transposes are not scheduled.
    // (W2's gradient: X·Uᵀ and (Xᵀ·G)ᵀ, two transposes of [1024, 8] per gradient.) A batched
    // A [.., M, K] against a 2-D B is the 2-D product of A's rows stacked, [(..)·M, K]·[K, N]
    // (row-major, the output's own layout), so B's transpose folds the same way (a layer's
    // backward pass δ·W through Wᵀ: W1's [512, 512] transpose, 14 ms of its first run cold).
    const gemmOf = new Map<NodeId, { args: NodeId[]; gemm: GemmFold }>();
    {
      const readers = g.readersIn(cone);
      const alone = (x: NodeId) => !outputs.includes(x) && !inCluster.has(x) && readers.get(x)?.length === 1 && g.args(readers.get(x)![0]!).filter((y) => y === x).length === 1;
      // a transpose another fold already computes (outer, or a swapped product) is a value here
      const isT = (x: NodeId) => g.op(x) === 'transpose' && g.shape(x).length === 2 && alone(x) && !gemmOf.has(x) && !outerOf.has(x);
      for (const n of cone) {
        if (g.op(n) !== 'matmul' || inCluster.has(n)) continue;
        const [a, b] = g.args(n) as [NodeId, NodeId];
        const sa = g.shape(a), sb = g.shape(b);
        if (sa.length < 2 || sb.length !== 2) continue;
        const flat = sa.length === 2; // otherwise only B's transpose folds
        const transA = flat && isT(a), transB = isT(b) && a !== b;
        const reader = flat && alone(n) ? readers.get(n)![0]! : null;
        const swap = reader !== null && g.op(reader) === 'transpose' && !inCluster.has(reader) && !outerOf.has(reader);
        if (!transA && !transB && !swap) continue;
        const args = [transA ? g.args(a)[0]! : a, transB ? g.args(b)[0]! : b];
        if (transA) inCluster.add(a);
        if (transB) inCluster.add(b);
        if (swap) inCluster.add(n);
        const M = sa.slice(0, -1).reduce((x, y) => x * y, 1);
        gemmOf.set(swap ? reader! : n, { args, gemm: { transA, transB, swap, M, N: sb[1]!, K: sa[sa.length - 1]! } });
      }
    }
    // ---- a backend's vector unary (kept out of clusters) of a product with a constant, c·y,
    // whose only reader it is: op(c·y) in one backend call (`scaledUnary`); the product is not
    // scheduled. (W2's sigmoid: tanh(16·z) over [64, 1024].)
    const scaledOf = new Map<NodeId, { args: NodeId[]; c: number }>();
    if (this.backend.vectorUnary) {
      const vector = this.backend.vectorUnary;
      const readers = new Map<NodeId, number>();
      for (const n of cone) for (const a of g.args(n)) readers.set(a, (readers.get(a) ?? 0) + 1);
      for (const n of cone) {
        const op = g.op(n);
        if (!isUnary(op) || !vector.has(op as UnaryOp) || inCluster.has(n)) continue;
        const m = g.args(n)[0]!;
        if (g.op(m) !== 'mul' || inCluster.has(m) || outputs.includes(m) || readers.get(m) !== 1) continue;
        const [a, b] = g.args(m) as [NodeId, NodeId];
        const ca = g.constValue(a), cb = g.constValue(b);
        const [c, y] = ca !== undefined ? [ca, b] : cb !== undefined ? [cb, a] : [undefined, a];
        if (c === undefined || g.op(y) === 'const' || g.sizeOf(y) !== g.sizeOf(m)) continue;
        scaledOf.set(n, { args: [y], c });
        inCluster.add(m);
      }
    }
    const argsOf = (n: NodeId): readonly NodeId[] =>
      clusterOf.get(n)?.leaves ?? outerOf.get(n)?.args ?? gemmOf.get(n)?.args ?? scaledOf.get(n)?.args ?? g.args(n);
    // A constant read only by clusters is inlined there: it needs no buffer.
    const readConsts = new Set<NodeId>(outputs);
    for (const n of cone) if (!inCluster.has(n) || clusterOf.has(n)) for (const a of argsOf(n)) readConsts.add(a);
    const scheduled = (n: NodeId) => (!inCluster.has(n) || clusterOf.has(n)) && (g.op(n) !== 'const' || readConsts.has(n));

    // Last reader of each storage, per phase order.
    const lastUse = new Map<NodeId, number>();
    const pinned = new Set<NodeId>(); // storages that must survive the whole run
    for (const n of order) {
      if (!scheduled(n)) continue;
      for (const a of argsOf(n)) {
        const s = storageOf.get(a)!;
        lastUse.set(s, Math.max(lastUse.get(s) ?? -1, position.get(n)!));
        // A fixed value read by the varying phase must survive between runs.
        if (dependsOnVarying.has(n) && !dependsOnVarying.has(a)) pinned.add(s);
      }
    }
    for (const o of outputs) pinned.add(storageOf.get(o)!);
    for (const n of cone) {
      const op = g.op(n);
      if (op === 'input' || op === 'const' || op === 'literal') pinned.add(storageOf.get(n)!);
    }

    // ---- a concatenation written in place: when its pieces are contiguous blocks of the result
    // (every axis before the concat axis has length 1: a gradient's flat [p] from its parameters'
    // pieces) and each piece is a value computed by this plan for it alone, the pieces are
    // computed straight into their blocks of the result's buffer (views of it) and the concat
    // itself does nothing (W2's gradient: a 9216-value copy per evaluation). A piece must die no
    // later than the result (its memory is the result's), read once by it, in the same phase.
    const inPlace = new Map<NodeId, { concat: NodeId; offset: number }>(); // piece storage → its block
    const placed = new Set<NodeId>(); // concats written in place
    for (const n of order) {
      if (!scheduled(n) || g.op(n) !== 'concat' || storageOf.get(n) !== n) continue;
      const axis = g.attrs(n).axis!;
      if (!g.shape(n).slice(0, axis).every((d) => d === 1)) continue;
      const pieces = g.args(n).map((a) => storageOf.get(a)!);
      const ok = pieces.every((s, i) => {
        const op = g.op(s);
        return op !== 'input' && op !== 'const' && op !== 'literal' && op !== 'concat' && scheduled(s) && !pinned.has(s) &&
          !inPlace.has(s) && pieces.indexOf(s) === i && dependsOnVarying.has(s) === dependsOnVarying.has(n) &&
          // its memory lives as long as the result's: all of it if the result is an output, else
          // the concat must be its last reader
          (pinned.has(n) || lastUse.get(s) === position.get(n));
      });
      if (!ok) continue;
      let offset = 0;
      for (const s of pieces) {
        inPlace.set(s, { concat: n, offset });
        offset += g.sizeOf(s);
      }
      placed.add(n);
    }

    // ---- buffer assignment by simulation.
    const sizes: number[] = [];
    const free = new Map<number, number[]>(); // size → free buffer ids
    const bufOf = new Map<NodeId, number>();
    // views: buffer id → the block of another buffer it is (pieces of an in-place concat)
    const views = new Map<number, { parent: number; offset: number }>();
    let live = 0, peak = 0;
    const allocate = (size: number) => {
      const list = free.get(size);
      live += size;
      peak = Math.max(peak, live);
      if (list && list.length) return list.pop()!;
      sizes.push(size);
      return sizes.length - 1;
    };
    const pre: Instr[] = [], main: Instr[] = [];
    // Inputs are written when a run starts, before any instruction: their buffers are their own.
    for (const n of order) if (g.op(n) === 'input') bufOf.set(n, allocate(g.sizeOf(n)));
    for (const n of order) {
      if (!scheduled(n)) continue;
      const op = g.op(n);
      const s = storageOf.get(n)!;
      const block = inPlace.get(n);
      if (s !== n) {
        bufOf.set(n, bufOf.get(s)!);
      } else if (block) {
        // the result's buffer, allocated with its first piece; this piece is a view of it
        if (!bufOf.has(block.concat)) bufOf.set(block.concat, allocate(g.sizeOf(block.concat)));
        sizes.push(g.sizeOf(n));
        views.set(sizes.length - 1, { parent: bufOf.get(block.concat)!, offset: block.offset });
        bufOf.set(n, sizes.length - 1);
      } else if (placed.has(n)) {
        // allocated with its first piece
      } else if (op !== 'input') {
        bufOf.set(n, allocate(g.sizeOf(n)));
      }
      if (op !== 'input' && op !== 'reshape' && !placed.has(n)) {
        const args = argsOf(n);
        const instr: Instr = {
          node: n,
          op,
          attrs: g.attrs(n),
          shape: g.shape(n),
          ins: args.map((a) => bufOf.get(a)!),
          inShapes: args.map((a) => g.shape(a)),
          out: bufOf.get(n)!,
        };
        const outer = outerOf.get(n);
        if (outer) instr.outer = outer.shapes;
        const folded = gemmOf.get(n);
        if (folded) instr.gemm = folded.gemm;
        const scaled = scaledOf.get(n);
        if (scaled) instr.scale = scaled.c;
        const cluster = clusterOf.get(n);
        if (cluster) {
          // the backend's own loop (wasm SIMD) where it has one, else the generated JS
          let fused = backendKernels.get(cluster);
          if (!fused) {
            const program = fusedProgram(g, cluster);
            fused = this.backend.fused?.(program) ?? programKernel(program);
          }
          instr.fused = fused;
          instr.fusedFlops = cluster.members.reduce((f, m) => f + (g.op(m) === 'broadcast' ? 0 : g.sizeOf(m)), 0);
        }
        (dependsOnVarying.has(n) ? main : pre).push(instr);
      }
      // Release the storages whose last reader was n.
      for (const a of new Set(argsOf(n).map((x) => storageOf.get(x)!))) {
        // a piece's memory is its concat's: released with it
        if (lastUse.get(a) === position.get(n) && !pinned.has(a) && !inPlace.has(a)) {
          const b = bufOf.get(a)!;
          const size = sizes[b]!;
          live -= size;
          const list = free.get(size);
          if (list) list.push(b);
          else free.set(size, [b]);
        }
      }
    }
    const count = (list: Instr[]) => list.reduce((f, i) => f + instrFlops(i), 0);
    this.flops = { fixed: count(pre), varying: count(main) };
    this.pre = { instrs: pre };
    this.main = { instrs: main };
    this.bufferSizes = sizes;
    this.bufferViews = views;
    this.bufOf = bufOf;
    this.peakValues = peak;
    // `run({ into })` writes the first output in place when the main phase produces it
    const firstStorage = storageOf.get(outputs[0]!);
    this.firstInMain = main.some((i) => i.node === firstStorage);
  }

  /**
   * Evaluate the outputs. `bindings` gives a Float64Array for every input node of the plan
   * (`plan.inputs`); the returned arrays are fresh copies owned by the caller, or with
   * `{ copy: false }` views into the plan's buffers, valid until its next run. With `into` (an
   * array of exactly the first output's size) the first output is written there and returned
   * as is: when it is computed on every run (it depends on a varying input), the instruction
   * that produces it writes into `into` directly, with no copy (a Jacobian's rows straight into
   * the caller's J); else it is copied there.
   * @example plan.run(bind, { into: J.subarray(start * p, (start + B) * p) });
   */
  run(bindings: Bindings, opts: { copy?: boolean; into?: Float64Array; onStep?: (done: number, total: number) => void } = {}): Float64Array[] {
    const g = this.graph;
    if (!this.buffers) {
      const own = this.bufferSizes.map((s, b) => (this.bufferViews.has(b) ? null : new Float64Array(s)));
      this.buffers = own.map((a, b) => {
        const v = this.bufferViews.get(b);
        return a ?? own[v!.parent]!.subarray(v!.offset, v!.offset + this.bufferSizes[b]!);
      });
    }
    const bufs = this.buffers;
    const bind = (n: NodeId) => {
      const data = bindings.get(n);
      const a = g.attrs(n);
      if (!data) throw new Error(`input '${a.name}' (${a.role}) is not bound`);
      if (data.length !== g.sizeOf(n))
        throw new Error(`input '${a.name}' has ${data.length} values, expected ${g.sizeOf(n)} for shape ${shapeStr(g.shape(n))}`);
      bufs[this.bufOf.get(n)!]!.set(data);
      return data;
    };
    const fixed = this.fixedInputs.map((n) => bindings.get(n)!);
    const sameFixed = this.lastFixed !== null && fixed.every((d, k) => d === this.lastFixed![k]);
    // `onStep`: the instructions executed of this run's (the fixed phase's, when it runs, and the main phase's)
    const steps = (sameFixed ? 0 : this.pre.instrs.length) + this.main.instrs.length;
    const onStep = opts.onStep;
    if (!sameFixed) {
      this.fixedInputs.forEach(bind);
      this.execute(this.pre, onStep && ((i) => onStep(i, steps)));
      this.lastFixed = fixed;
    }
    this.varyingInputs.forEach(bind);
    const into = opts.into;
    const first = this.outputs[0]!;
    if (into && into.length !== g.sizeOf(first)) throw new Error(`run: 'into' has ${into.length} values, the output ${into.length < g.sizeOf(first) ? 'needs' : 'has'} ${g.sizeOf(first)}`);
    // The first output's buffer is the caller's for this run: whatever shared it earlier in the
    // run (a value dead before the output was written) uses it as scratch, which is harmless.
    const direct = into !== undefined && this.firstInMain;
    const saved = bufs[this.bufOf.get(first)!]!;
    if (direct) bufs[this.bufOf.get(first)!] = into;
    try {
      const before = steps - this.main.instrs.length;
      this.execute(this.main, onStep && ((i) => onStep(before + i, steps)));
    } finally {
      if (direct) bufs[this.bufOf.get(first)!] = saved;
    }
    const copy = opts.copy ?? true;
    return this.outputs.map((o, k) => {
      if (k === 0 && into) {
        if (!direct) into.set(bufs[this.bufOf.get(o)!]!.subarray(0, g.sizeOf(o)));
        return into;
      }
      const b = bufs[this.bufOf.get(o)!]!;
      return copy ? b.slice(0, g.sizeOf(o)) : b.subarray(0, g.sizeOf(o));
    });
  }

  /** Forget cached fixed values (call after mutating a bound array in place). */
  invalidate(): void {
    this.lastFixed = null;
  }

  private execute(phase: Phase, onStep?: (done: number) => void): void {
    const bufs = this.buffers!;
    const k = this.backend;
    let done = 0;
    for (const ins of phase.instrs) {
      onStep?.(done++);
      const out = bufs[ins.out]!;
      const x = ins.ins.map((b) => bufs[b]!);
      const op = ins.op;
      if (ins.fused) {
        ins.fused(x, out);
      } else if (ins.gemm) {
        const { transA, transB, swap, M, N, K } = ins.gemm;
        const lda = transA ? M : K, ldb = transB ? K : N;
        if (swap) k.gemm(!transB, !transA, N, M, K, 1, x[1]!, 0, ldb, x[0]!, 0, lda, 0, out, 0, M);
        else k.gemm(transA, transB, M, N, K, 1, x[0]!, 0, lda, x[1]!, 0, ldb, 0, out, 0, N);
      } else if (ins.outer) {
        k.binary('mul', x[0]!, ins.outer[0]!, x[1]!, ins.outer[1]!, out, ins.shape);
      } else if (ins.scale !== undefined) {
        const c = ins.scale, n = out.length;
        if (k.scaledUnary) k.scaledUnary(op as UnaryOp, c, x[0]!, out, n);
        else {
          k.binary('mul', Float64Array.of(c), [], x[0]!, ins.inShapes[0]!, out, ins.inShapes[0]!);
          k.unary(op as UnaryOp, out, out, n);
        }
      } else if (isUnary(op)) {
        k.unary(op, x[0]!, out, out.length);
      } else if (isBinary(op)) {
        k.binary(op, x[0]!, ins.inShapes[0]!, x[1]!, ins.inShapes[1]!, out, ins.shape);
      } else {
        switch (op) {
          case 'const':
            out.fill(ins.attrs.value!);
            break;
          case 'literal':
            out.set(ins.attrs.data!);
            break;
          case 'matmul': {
            // K = 1: each entry is one product a_i·b_j, which the broadcasting multiply computes
            // without a product kernel's per-call and packing costs (the same value; a zero
            // product keeps its IEEE sign, where a gemm's 0 + a·b gives +0)
            const sa = ins.inShapes[0]!, sb = ins.inShapes[1]!;
            if (sa.length >= 2 && sb.length >= 2 && sa[sa.length - 1] === 1) k.binary('mul', x[0]!, sa, x[1]!, sb, out, ins.shape);
            else k.matmul(x[0]!, sa, x[1]!, sb, out, ins.shape);
            break;
          }
          case 'sum':
            k.sum(x[0]!, ins.inShapes[0]!, ins.attrs.axes!, out);
            break;
          case 'broadcast':
            k.broadcast(x[0]!, ins.inShapes[0]!, out, ins.shape);
            break;
          case 'transpose':
            k.transpose(x[0]!, ins.inShapes[0]!, ins.attrs.perm!, out);
            break;
          case 'slice':
            k.slice(x[0]!, ins.inShapes[0]!, ins.attrs.starts!, ins.attrs.ends!, out);
            break;
          case 'pad':
            k.pad(x[0]!, ins.inShapes[0]!, ins.attrs.starts!, out, ins.shape);
            break;
          case 'concat':
            k.concat(x, ins.inShapes, ins.attrs.axis!, out);
            break;
          case 'input':
          case 'reshape':
            break; // bound on run / aliases its input
          default:
            unreachable(op);
        }
      }
    }
  }
}

function instrFlops(i: Instr): number {
  if (i.fusedFlops !== undefined) return i.fusedFlops;
  if (i.gemm) return 2 * i.gemm.M * i.gemm.N * i.gemm.K;
  if (i.op === 'matmul') {
    const a = i.inShapes[0]!;
    const K = a[a.length - 1]!;
    return 2 * K * i.shape.reduce((x, y) => x * y, 1);
  }
  if (i.op === 'const' || i.op === 'literal') return 0;
  return i.inShapes.reduce((f, s) => Math.max(f, s.reduce((x, y) => x * y, 1)), i.shape.reduce((x, y) => x * y, 1));
}

/**
 * Compile the cone of `outputs` into a plan.
 * @example
 *   const plan = compile(g, [h]);
 *   const [value] = plan.run(new Map([[w, Float64Array.of(0.5)]]));
 */
export function compile(g: Graph, outputs: NodeId[], opts: CompileOptions = {}): Plan {
  return new Plan(g, outputs, opts);
}

/** The number of float64 values a plan for these outputs needs at its peak. */
export function planMemory(g: Graph, outputs: NodeId[], varying: NodeId[] = []): number {
  return new Plan(g, outputs, { varying }).peakValues;
}

