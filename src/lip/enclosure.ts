/**
 * Certified upper bounds of Lip(h) = sup_{w∈B} ‖Dh(w)‖ and Lip(Dh) = sup_{w∈B} ‖D²h(w)‖ on the
 * ball B = B(w0, ρ), by propagating enclosures through the graph, node by node, element by
 * element (interval Taylor arithmetic of order 2 with sparse derivatives).
 *
 * For every element x of every node the pass computes, valid for EVERY w ∈ B:
 *   - value:    x(w) ∈ [vm − vr, vm + vr];
 *   - gradient: ∂x/∂w_j (w) ∈ [gm_j − gr_j, gm_j + gr_j] for the j in a sparse support; outside
 *               it the partial derivative is identically zero (structural zero);
 *   - Hessian:  ∂²x/∂w_j∂w_l (w) ∈ [Hm_jl − Hr_jl, Hm_jl + Hr_jl] on a sparse support (j ≤ l
 *               stored), structurally zero elsewhere.
 * The per-op rules are the registry's (`enclose` of each entry in ir/ops.ts), run by one
 * traversal (`traverse`) through a kit whose operations are below: each states why its output
 * enclosures hold given its inputs'. The mid-radius
 * arithmetic is (a ± r)(b ± s) ⊂ ab ± (|a|s + r|b| + rs) and (a ± r) + (b ± s) ⊂ (a+b) ± (r+s);
 * every radius is inflated by 2⁻⁵⁰·(|mid| + radius) after each operation, which covers the
 * rounding of the few floating-point operations that produced it (and the few-ulp errors of
 * Math.exp/sin/tanh/…, whose results are used only as midpoints).
 *
 * Ranges of σ', σ'' over the actual range of the argument (not the whole line): each unary op
 * has bounds sup_{[lo,hi]} |σ^{(j)}|, j = 1, 2, 3, exact or safely rounded up. Then for y = σ(x):
 *   y(w) − σ(vm) = σ'(ξ)(x(w) − vm)                    ⇒ |y − σ(vm)| ≤ S1·vr (mean value),
 *   ∇y = σ'(x)∇x,  σ'(x) ∈ σ'(vm) ± S2·vr,
 *   ∇²y = σ'(x)∇²x + σ''(x)∇x∇xᵀ,  σ''(x) ∈ σ''(vm) ± min(S3·vr, S2 + |σ''(vm)|).
 * Where a bound is infinite (log or 1/x with 0 in the range, a kink of |x| inside the ball) the
 * derivative of that order is marked unbounded and the corresponding Lipschitz bound is null.
 *
 * The value ranges are refined by the mean value theorem after each node: |x(w) − x(w0)| ≤
 * ρ·sup_B ‖∇x‖ ≤ ρ·‖(|gm| + gr)‖₂, so vr ← min(vr, ρ‖|gm| + gr‖₂ + ve) with ve a bound on the
 * error of vm as a value of x(w0) (tracked alongside). This is what keeps the ranges of
 * pre-activations from growing like ρ·(Σ|x_k|) instead of ρ·‖x‖.
 *
 * From the enclosures of the output h (k elements) to the norms:
 *   - |Dh(w)| ≤ A entrywise with A = |gm| + gr (k×p, nonnegative), so ‖Dh(w)‖ ≤ ‖|Dh(w)|‖ ≤ ‖A‖,
 *     and ‖A‖² = ρ(AᵀA) ≤ max_i (AᵀA x)_i / x_i for any x > 0 (Collatz–Wielandt).
 *   - |D²h(w)| ≤ T entrywise with T_a = |Hm| + Hr (k symmetric p×p nonnegative matrices), so
 *     ‖D²h(w)‖ ≤ ‖T‖ = sup_{z,u,v ≥ 0, unit} Σ_a z_a uᵀT_a v. The weights split into the connected
 *     components of the graph whose edges are the (j, l) with some T_a,jl ≠ 0; T is block diagonal
 *     over them and then ‖T‖ = max_c ‖T_c‖ (Cauchy–Schwarz: Σ_c ‖T_c‖‖u_c‖‖v_c‖ ≤ max_c ‖T_c‖).
 *     For each block the minimum of three relaxations, each ≥ ‖T_c‖:
 *       B1 = (Σ_a ρ(T_a)²)^{1/2}          (‖Σ z_a T_a‖ ≤ Σ |z_a| ‖T_a‖, Cauchy–Schwarz),
 *       B2 = ρ(Σ_a T_a²)^{1/2}            (the stacked matrix [T_1; …; T_k] as a map R^p → R^{kp}),
 *       B3 = ρ(G)^{1/2}, G_ab = ⟨T_a, T_b⟩_F (sup_z ‖Σ z_a T_a‖_F),
 *     each spectral radius of a nonnegative matrix bounded above by Collatz–Wielandt.
 *   On the mean-field network the blocks are the neurons (a_i, u_i), and B1 reproduces the
 *   closed-form per-neuron bound of docs/math.md (Lemma C.1 note) with sup|σ'|, sup|σ''| taken over
 *   the reachable pre-activations instead of the line, so the bound is never worse than it.
 */
import { Graph, type NodeId } from '../ir/graph.ts';
import { Thousandths } from '../io/progress.ts';
import type { Model } from '../ir/model.ts';
import { PRIMITIVES } from '../ir/ops.ts';
import type { EnclosureKit, ScalarBounds } from '../ir/rules.ts';
import { broadcastIndex } from '../ir/shape.ts';
import { U, absMax, absMin, outward, up } from '../math/scalar.ts';
import { compile } from '../runtime/compile.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';

const infl = (m: number, r: number) => r + (Math.abs(m) + r) * U;

/** Sparse interval vector: sorted indices, midpoints, radii. */
interface SVec {
  i: Int32Array;
  m: Float64Array;
  r: Float64Array;
}
/** Sparse interval symmetric matrix, upper triangle: keys j·p + l (j ≤ l), sorted. */
interface SMat {
  k: Float64Array;
  m: Float64Array;
  r: Float64Array;
}
const EMPTY_V: SVec = { i: new Int32Array(0), m: new Float64Array(0), r: new Float64Array(0) };
const EMPTY_M: SMat = { k: new Float64Array(0), m: new Float64Array(0), r: new Float64Array(0) };

/** Enclosures of every element of one node (see the file comment). */
interface Enc {
  vm: Float64Array;
  vr: Float64Array;
  ve: Float64Array;
  g: SVec[];
  H: SMat[];
  /** Why the gradient / Hessian enclosure is unbounded (null: bounded). */
  gInf: string | null;
  hInf: string | null;
}

/**
 * Options of `certifiedBounds`: the ball B(w0, radius) and the most derivative entries to hold.
 */
export interface EnclosureOptions {
  radius: number;
  w0?: Float64Array;
  /** Max derivative entries held at once (default 2e7, about 0.5 GB) before giving up. */
  budget?: number;
  evaluator?: Evaluator;
  /**
   * Told how far the bounds are, in thousandths (non-decreasing, ending at 1000): the passes over
   * the output's cone (the ball, the centre, and up to three inner shells), by nodes visited.
   */
  onProgress?: (done: number, total: number) => void;
}

/**
 * What `certifiedBounds` proves on B(w0, ρ): upper bounds of Lip(h) = sup ‖Dh‖ and
 * Lip(Dh) = sup ‖D²h‖ (null, with the reason, when no finite bound exists).
 */
export interface EnclosureResult {
  lipH: number | null;
  lipDh: number | null;
  lipHNote: string | null;
  lipDhNote: string | null;
  /** Number of weight blocks the Hessian bound split into, and the largest. */
  blocks: number;
  largestBlock: number;
  /** The relaxation that gave the bound of the worst block. */
  relaxation: 'per-output' | 'stacked' | 'frobenius' | 'signed' | null;
  /** The most derivative entries held at once by the pass over the ball. */
  entries: number;
  /** Which bound gave Lip(h): the enclosure of Dh over the ball, or ‖Dh(w0)‖ + ρ·Lip(Dh). */
  lipHMethod: 'enclosure' | 'mean value' | null;
}

class TooLarge extends Error {}

/** The running count of stored derivative entries of one pass, against its budget. */
class Budget {
  /** Live entries now, and the most at any time. */
  n = 0;
  peak = 0;
  constructor(readonly limit: number, readonly p: number) {}
  charge(k: number): void {
    this.n += k;
    if (this.n > this.peak) this.peak = this.n;
    if (this.n > this.limit)
      throw new TooLarge(`the enclosure needs more than ${this.limit} stored derivative entries (p = ${this.p}); no certified bound for a model this large`);
  }
}

// ------------------------------------------------------------------ unary functions

/** The bounds of a scalar function (the registry's), checked to exist. */
function boundsOf(fn: ScalarBounds): ScalarBounds & { sup: NonNullable<ScalarBounds['sup']> } {
  if (!fn.sup) throw new Error('internal: a function without derivative bounds reached the smooth rule');
  return fn as ScalarBounds & { sup: NonNullable<ScalarBounds['sup']> };
}

/**
 * The interval (c ± r) ∩ [−S, S] as (mid, radius), both enclosures of σ^{(j)} over the range
 * (mean value form around c = σ^{(j)}(vm), and the sup bound S), inflated for rounding.
 */
function clip(c: number, r: number, S: number): [number, number] {
  const e = 4 * U * Math.abs(c);
  let lo = c - r - e, hi = c + r + e;
  if (!(lo >= -S)) lo = -S;
  if (!(hi <= S)) hi = S;
  if (lo > hi) { lo = Math.min(lo, hi); hi = lo; } // only by rounding: keep a valid point
  const m = 0.5 * (lo + hi);
  return [m, infl(m, 0.5 * (hi - lo))];
}

// ------------------------------------------------------------------ sparse helpers

/** Dense accumulator over R^p with a touched list, for sums of sparse interval vectors. */
class VecAcc {
  private readonly m: Float64Array;
  private readonly r: Float64Array;
  /** Σ|terms| and the number of terms of each entry: the summation's rounding is ≤ c·2⁻⁵³·a. */
  private readonly a: Float64Array;
  private readonly c: Float64Array;
  private readonly mark: Uint8Array;
  private touched: number[] = [];
  constructor(p: number, private readonly budget: Budget) {
    this.m = new Float64Array(p);
    this.r = new Float64Array(p);
    this.a = new Float64Array(p);
    this.c = new Float64Array(p);
    this.mark = new Uint8Array(p);
  }
  /** += (cm ± cr)·v */
  add(v: SVec, cm: number, cr: number): void {
    for (let t = 0; t < v.i.length; t++) {
      const j = v.i[t]!, a = v.m[t]!, ar = v.r[t]!;
      if (!this.mark[j]) { this.mark[j] = 1; this.touched.push(j); }
      const pm = cm * a;
      this.m[j] += pm;
      this.a[j] += Math.abs(pm);
      this.c[j]++;
      this.r[j] += infl(pm, Math.abs(cm) * ar + cr * Math.abs(a) + cr * ar);
    }
  }
  take(): SVec {
    if (this.touched.length === 0) return EMPTY_V;
    this.budget.charge(this.touched.length);
    this.touched.sort((a, b) => a - b);
    const n = this.touched.length;
    const out: SVec = { i: new Int32Array(this.touched), m: new Float64Array(n), r: new Float64Array(n) };
    for (let t = 0; t < n; t++) {
      const j = this.touched[t]!;
      out.m[t] = this.m[j]!;
      out.r[t] = infl(this.m[j]!, this.r[j]! + this.c[j]! * 2 ** -52 * (this.a[j]! + this.r[j]!));
      this.m[j] = 0; this.r[j] = 0; this.a[j] = 0; this.c[j] = 0; this.mark[j] = 0;
    }
    this.touched = [];
    return out;
  }
}

/** Accumulator of sparse symmetric interval matrices (upper triangle, keyed j·p + l). */
class MatAcc {
  // Terms as (key, mid, radius) triples appended in any order; `take` sorts them by key and
  // combines equal keys (cheaper than hashing every term).
  private keys = new Float64Array(1024);
  private ms = new Float64Array(1024);
  private rs = new Float64Array(1024);
  private n = 0;
  constructor(private readonly p: number, private readonly budget: Budget) {}
  private put(key: number, pm: number, pr: number) {
    if (this.n === this.keys.length) {
      if (this.budget.n + this.n > this.budget.limit) this.budget.charge(this.n);
      const grow = (a: Float64Array) => { const b = new Float64Array(a.length * 2); b.set(a); return b; };
      this.keys = grow(this.keys); this.ms = grow(this.ms); this.rs = grow(this.rs);
    }
    this.keys[this.n] = key;
    this.ms[this.n] = pm;
    this.rs[this.n] = infl(pm, pr);
    this.n++;
  }
  /** += (cm ± cr)·H */
  add(H: SMat, cm: number, cr: number): void {
    for (let t = 0; t < H.k.length; t++) {
      const a = H.m[t]!, ar = H.r[t]!;
      this.put(H.k[t]!, cm * a, Math.abs(cm) * ar + cr * Math.abs(a) + cr * ar);
    }
  }
  /** += (cm ± cr)·(a bᵀ + b aᵀ) (or (cm ± cr)·a aᵀ when b is a and `self`). */
  outer(a: SVec, b: SVec, cm: number, cr: number, self = false): void {
    const p = this.p;
    for (let s = 0; s < a.i.length; s++) {
      const j = a.i[s]!, am = a.m[s]!, ar = a.r[s]!;
      for (let t = self ? s : 0; t < b.i.length; t++) {
        const l = b.i[t]!, bm = b.m[t]!, br = b.r[t]!;
        // product x = a_j·b_l (interval), then scaled by c
        const xm = am * bm, xr = infl(xm, Math.abs(am) * br + ar * Math.abs(bm) + ar * br);
        // self: (a aᵀ)_jl = a_j a_l, j ≤ l visited once (a is sorted).
        // pair: (a bᵀ + b aᵀ)_xy = a_x b_y + a_y b_x for x < y — the pairs (j, l) = (x, y) and
        // (y, x) both land on key (x, y) — and 2 a_x b_x on the diagonal.
        const f = !self && j === l ? 2 : 1;
        const key = j <= l ? j * p + l : l * p + j;
        this.put(key, f * cm * xm, f * (Math.abs(cm) * xr + cr * Math.abs(xm) + cr * xr));
      }
    }
  }
  take(): SMat {
    const n = this.n;
    if (n === 0) return EMPTY_M;
    const keys = this.keys, ms = this.ms, rs = this.rs;
    const perm = new Uint32Array(n);
    for (let i = 0; i < n; i++) perm[i] = i;
    let sorted = true;
    for (let i = 1; i < n && sorted; i++) sorted = keys[i - 1]! < keys[i]!;
    if (!sorted) perm.sort((a, b) => keys[a]! - keys[b]!);
    // Distinct keys, each with Σ mid, Σ radius, Σ|mid| and the term count c: the summation's
    // rounding is at most c·2⁻⁵³·Σ|terms|.
    let distinct = 0;
    for (let t = 0; t < n; t++) if (t === 0 || keys[perm[t]!] !== keys[perm[t - 1]!]) distinct++;
    this.budget.charge(distinct);
    const out: SMat = { k: new Float64Array(distinct), m: new Float64Array(distinct), r: new Float64Array(distinct) };
    let o = -1, sa = 0, c = 0;
    const close = () => { if (o >= 0) out.r[o] = infl(out.m[o]!, out.r[o]! + c * 2 ** -52 * (sa + out.r[o]!)); };
    for (let t = 0; t < n; t++) {
      const i = perm[t]!;
      if (o < 0 || keys[i] !== out.k[o]) {
        close();
        o++;
        out.k[o] = keys[i]!;
        sa = 0; c = 0;
      }
      out.m[o] += ms[i]!;
      out.r[o] += rs[i]!;
      sa += Math.abs(ms[i]!);
      c++;
    }
    close();
    this.n = 0;
    return out;
  }
}

/** ‖(|m| + r)‖₂ of a sparse interval vector: a bound on sup ‖∇x‖ over the ball. */
function gradNormBound(v: SVec): number {
  let s = 0;
  for (let t = 0; t < v.i.length; t++) s += (Math.abs(v.m[t]!) + v.r[t]!) ** 2;
  return Math.sqrt(s) * (1 + 4 * U);
}

/**
 * Marks the derivative enclosures of a node unbounded where its arithmetic overflowed: a NaN or
 * ±∞ among the midpoints or radii is no enclosure at all, and must never reach a norm (where
 * Math.min/Math.max or a comparison would silently drop it). Values or gradients not finite
 * make both bounds null; a Hessian entry not finite, the Lip(Dh) bound. Run by the driver on
 * every node, whatever rule produced it.
 */
function markOverflow(y: Enc, op: string): Enc {
  const finite = (a: Float64Array) => { for (let t = 0; t < a.length; t++) if (!Number.isFinite(a[t]!)) return false; return true; };
  const where = (what: string) => `overflow at ${op}: its ${what} enclosure is not finite in floating point`;
  // (A value not finite matters where it depends on the weights: a constant's is the model's own.)
  for (let i = 0; !y.gInf && i < y.g.length; i++) {
    const g = y.g[i]!;
    if (g.i.length === 0) continue;
    if (!Number.isFinite(y.vm[i]!) || !Number.isFinite(y.vr[i]!)) y.gInf = where('value');
    else if (!finite(g.m) || !finite(g.r)) y.gInf = where('gradient');
    if (y.gInf) y.hInf ??= y.gInf;
  }
  if (!y.hInf) for (let i = 0; i < y.H.length; i++)
    if (!finite(y.H[i]!.m) || !finite(y.H[i]!.r)) { y.hInf = where('Hessian'); break; }
  return y;
}

// ------------------------------------------------------------------ index maps of structural ops

/** out element e ← input element map[e] (−1: zero), by running the op on an iota. */
function gatherMap(op: Parameters<Graph['apply']>[0], inShapes: number[][], attrs: Parameters<Graph['apply']>[2]): { input: Int32Array; index: Int32Array } {
  const g = new Graph();
  let base = 0;
  const lits: NodeId[] = [];
  const bases: number[] = [];
  for (const s of inShapes) {
    const n = s.reduce((a, b) => a * b, 1);
    const data = new Float64Array(n);
    for (let i = 0; i < n; i++) data[i] = base + i + 1;
    bases.push(base);
    base += n;
    lits.push(g.node('literal', [], { data, key: `iota${base}`, shape: s.slice() }));
  }
  const out = g.node(op, lits, attrs);
  const [vals] = compile(g, [out]).run(new Map());
  const input = new Int32Array(vals!.length), index = new Int32Array(vals!.length);
  for (let e = 0; e < vals!.length; e++) {
    const v = vals![e]! - 1;
    if (v < 0) { input[e] = -1; index[e] = -1; continue; }
    let which = bases.length - 1;
    while (bases[which]! > v) which--;
    input[e] = which;
    index[e] = v - bases[which]!;
  }
  return { input, index };
}

/** A structural node's gather: the input and the element of it that each output element reads. */
function gatherIndex(g: Graph, y: NodeId): { input: Int32Array; index: Int32Array } {
  const args = g.args(y);
  if (g.op(y) === 'broadcast') return { input: new Int32Array(g.sizeOf(y)), index: broadcastIndex(g.shape(args[0]!), g.shape(y)) };
  return gatherMap(g.op(y), args.map((x) => g.shape(x)), g.attrs(y));
}

// ------------------------------------------------------------------ the pass

/**
 * Certified upper bounds of Lip(h) and Lip(Dh) on B(w0, ρ) (see the file comment for why each
 * rule is valid). A bound is null, with a note, where no finite bound follows.
 *
 * Lip(h) is the smaller of the bound from the enclosure of Dh over the ball and the mean value
 * bound ‖Dh(w)‖ ≤ ‖Dh(w0)‖ + ‖w − w0‖·sup_B ‖D²h‖ ≤ ‖Dh(w0)‖ + ρ·Lip(Dh)-upper, with ‖Dh(w0)‖
 * bounded from a second pass at radius 0 (where the enclosures are Dh(w0) up to rounding);
 * when the second term matters (over 10% of the first), Lip(Dh) is bounded on four concentric
 * balls and integrated along the radius instead.
 *
 * @example
 *   certifiedBounds(loadModel('examples/sin.ntk'), { radius: 0.2 }).lipDh // ≥ sup_{|w−w0|≤0.2} |sin w|
 */
export function certifiedBounds(model: Model, opts: EnclosureOptions): EnclosureResult {
  // Progress: at most PASSES passes over the cone (the ball, the centre, three inner shells).
  const progress = new Thousandths(opts.onProgress);
  progress.start();
  const PASSES = 5;
  try {
    return boundsOnBall(model, opts, (i) => (progress.on ? (done, total) => progress.at((i + done / total) / PASSES) : undefined));
  } finally {
    progress.end();
  }
}

/** `certifiedBounds` itself; `pass(i)` is the progress hook of the i-th pass over the cone. */
function boundsOnBall(model: Model, opts: EnclosureOptions, pass: (i: number) => ((done: number, total: number) => void) | undefined): EnclosureResult {
  const w0 = opts.w0 ?? model.w0;
  const budget = opts.budget ?? 2e7;
  const p = model.paramCount;
  const fail = (e: unknown, entries: number): EnclosureResult => {
    if (e instanceof TooLarge)
      return { lipH: null, lipDh: null, lipHNote: e.message, lipDhNote: e.message, blocks: 0, largestBlock: 0, relaxation: null, entries, lipHMethod: null };
    throw e;
  };
  const estimate = estimateEntries(model);
  if (estimate > budget)
    return fail(new TooLarge(`the enclosure would need about ${estimate.toExponential(1)} stored derivative entries (budget ${budget}, p = ${p}); no certified bound for a model this large`), 0);
  let ball: { h: Enc; entries: number };
  try {
    ball = enclose(model, opts.radius, w0, budget, true, pass(0));
  } catch (e) {
    return fail(e, budget);
  }
  const res = summarize(ball.h, p, ball.entries);
  if (res.lipH !== null && res.lipDh !== null) {
    try {
      const centre = enclose(model, 0, w0, budget, false, pass(1));
      const j0 = jacobianBound(centre.h, p);
      let mv = (j0 + opts.radius * res.lipDh) * (1 + 4 * U);
      if (opts.radius * res.lipDh > 0.1 * j0) {
        // Shells: along a segment from w0, ‖D²h‖ at distance s is at most U(t) for any t ≥ s
        // (U(t) the certified Lip(Dh) on B(w0, t), increasing in t), so
        // ‖Dh(w)‖ ≤ ‖Dh(w0)‖ + Σ_i (t_{i+1} − t_i)·U(t_{i+1}) with t_i = iρ/4.
        let integral = 0;
        for (let i = 1; i <= 4; i++) {
          const t = (opts.radius * i) / 4;
          const u = i === 4 ? res.lipDh : summarize(enclose(model, t, w0, budget, true, pass(1 + i)).h, p, 0).lipDh;
          if (u === null) { integral = Infinity; break; }
          integral += (opts.radius / 4) * u;
        }
        mv = Math.min(mv, (j0 + integral) * (1 + 8 * U));
      }
      // A NaN or ∞ (overflow) replaces nothing: `mv < lipH` is then false.
      if (Number.isFinite(mv) && mv < res.lipH) {
        res.lipH = mv;
        res.lipHMethod = 'mean value';
      }
    } catch (e) {
      if (!(e instanceof TooLarge)) throw e;
    }
  }
  return res;
}

/**
 * The enclosures of the flattened output over B(w0, ρ) as dense arrays, for tests and small
 * models: h_a(w) ∈ value.mid[a] ± value.rad[a], ∂h_a/∂w_j ∈ grad.mid[a·p + j] ± grad.rad[a·p + j],
 * ∂²h_a/∂w_j∂w_l ∈ hess.mid[(a·p + j)·p + l] ± hess.rad[…] for every w in the ball (gradient or
 * Hessian null where unbounded).
 */
export function outputEnclosure(model: Model, radius: number, w0: Float64Array = model.w0) {
  const p = model.paramCount;
  const { h } = enclose(model, radius, w0, 2e7);
  const k = h.vm.length;
  const grad = h.gInf ? null : { mid: new Float64Array(k * p), rad: new Float64Array(k * p) };
  const hess = h.hInf ? null : { mid: new Float64Array(k * p * p), rad: new Float64Array(k * p * p) };
  for (let a = 0; a < k; a++) {
    const g = h.g[a]!;
    if (grad) for (let t = 0; t < g.i.length; t++) { grad.mid[a * p + g.i[t]!] = g.m[t]!; grad.rad[a * p + g.i[t]!] = g.r[t]!; }
    const H = h.H[a]!;
    if (hess)
      for (let t = 0; t < H.k.length; t++) {
        const j = Math.floor(H.k[t]! / p), l = H.k[t]! - j * p;
        for (const [x, y] of [[j, l], [l, j]] as const) {
          hess.mid[(a * p + x) * p + y] = H.m[t]!;
          hess.rad[(a * p + x) * p + y] = H.r[t]!;
        }
      }
  }
  return { value: { mid: h.vm, rad: h.vr }, grad, hess };
}

/** How many nodes of the cone read each node (the output counts once more): for releasing. */
function useCounts(g: Graph, cone: NodeId[], out: NodeId): Map<NodeId, number> {
  const uses = new Map<NodeId, number>([[out, 1]]);
  for (const n of cone) for (const a of new Set(g.args(n))) uses.set(a, (uses.get(a) ?? 0) + 1);
  return uses;
}

/**
 * A cheap estimate of the derivative entries the enclosure pass will store, from per-element
 * support sizes only: the same per-op rules and traversal as the pass, through a kit whose
 * s (gradient support) and e (Hessian entries) are sums where the pass takes unions (a
 * product's Hessian gains s_a·s_b cross entries, a nonlinear function's gains s(s+1)/2), so it
 * bounds what the pass stores (test/lip/rules.test.ts). Lets a model far too large be refused
 * in milliseconds.
 * @example estimateEntries(model) > 2e7   // true: certifiedBounds would refuse the model
 */
export function estimateEntries(model: Model): number {
  const p = model.paramCount;
  const cap = (x: number) => Math.min(x, p);
  const capH = (x: number) => Math.min(x, (p * (p + 1)) / 2);
  const paramNodes = new Set(model.params.map((q) => q.node));
  const g = model.graph;
  const counter = new Budget(Infinity, p);
  /** Support sizes of each element: s gradient entries, e Hessian entries. */
  type Sizes = { s: Float64Array; e: Float64Array };
  const sizes = (n: number): Sizes => ({ s: new Float64Array(n), e: new Float64Array(n) });
  /** A result the pass stores (and charges to its budget), as the certified pass does. */
  const stored = (y: Sizes) => {
    let t = 0;
    for (let i = 0; i < y.s.length; i++) t += y.s[i]! + y.e[i]!;
    counter.charge(t);
    return y;
  };
  const kit: PassKit<Sizes> = {
    input: (y) => {
      const out = sizes(g.sizeOf(y));
      if (paramNodes.has(y)) out.s.fill(1);
      return out;
    },
    exact: (_data, n) => sizes(n),
    smooth: (x) => {
      // a nonlinear function's Hessian gains s(s+1)/2 entries: ∇²y = f′∇²x + f″∇x∇xᵀ
      const y = sizes(x.s.length);
      for (let i = 0; i < x.s.length; i++) {
        const si = x.s[i]!;
        y.s[i] = si;
        y.e[i] = si ? capH(x.e[i]! + (si * (si + 1)) / 2) : 0;
      }
      return stored(y);
    },
    linear: (X, n, terms) => {
      const y = sizes(n);
      for (let e = 0; e < n; e++)
        terms(e, (x, i) => {
          y.s[e] = cap(y.s[e]! + X[x]!.s[i]!);
          y.e[e] = capH(y.e[e]! + X[x]!.e[i]!);
        });
      return stored(y);
    },
    product: (A, B, n, terms) => {
      // a product's Hessian gains s_a·s_b cross entries: ∇a∇bᵀ + ∇b∇aᵀ
      const y = sizes(n);
      for (let e = 0; e < n; e++)
        terms(e, (ia, ib) => {
          const sa = A.s[ia]!, sb = B.s[ib]!;
          y.s[e] = cap(y.s[e]! + sa + sb);
          y.e[e] = capH(y.e[e]! + A.e[ia]! + B.e[ib]! + sa * sb);
        });
      return stored(y);
    },
    gather: (y, X) => {
      const { input, index } = gatherIndex(g, y);
      const out = sizes(input.length);
      for (let i = 0; i < input.length; i++)
        if (input[i]! >= 0) { out.s[i] = X[input[i]!]!.s[index[i]!]!; out.e[i] = X[input[i]!]!.e[index[i]!]!; }
      return out; // gathers share their inputs' storage
    },
    select: (x, index) => ({ s: Float64Array.from(index, (i) => x.s[i]!), e: Float64Array.from(index, (i) => x.e[i]!) }),
    sign: (x) => sizes(x.s.length),
    abs: (x) => ({ s: x.s, e: x.e }),
    isConstant: (x) => x.s.every((v) => v === 0),
    mid: () => 0,
    finish: (y) => y,
  };
  traverse(model, kit, counter);
  return counter.peak;
}

/**
 * The one traversal of the output's cone, for both passes: each node's enclosure by its op's
 * rule (the registry's `enclose`), through the pass's kit; the enclosures no later node reads
 * are released, so that the budget counts the live entries (a node owns what its rule stored).
 */
function traverse<E>(model: Model, kit: PassKit<E>, counter: Budget, tick?: (done: number, total: number) => void): E {
  const g = model.graph;
  const out = g.reshape(model.output, [model.outputShape.reduce((a, b) => a * b, 1)]);
  const cone = g.cone([out]);
  const uses = useCounts(g, cone, out);
  const own = new Map<NodeId, number>();
  const val = new Map<NodeId, E>();
  let visited = 0;
  try {
    for (const node of cone) {
      tick?.(visited++, cone.length);
      const args = g.args(node);
      const before = counter.n;
      const y = PRIMITIVES[g.op(node)].enclose(kit, g, node, args.map((x) => val.get(x)!));
      val.set(node, kit.finish(y, g.op(node)));
      own.set(node, counter.n - before);
      for (const x of new Set(args)) {
        const u = uses.get(x)! - 1;
        uses.set(x, u);
        if (u === 0) {
          counter.n -= own.get(x) ?? 0;
          val.delete(x);
        }
      }
    }
    return val.get(out)!;
  } finally {
    val.clear();
  }
}

/** A pass's kit: the rules' operations, and what it does to each node's result (of op `op`). */
interface PassKit<E> extends EnclosureKit<E> {
  finish(y: E, op: string): E;
}

/** The enclosures of the flattened output over B(w0, ρ) (ρ = 0: at w0, up to rounding). */
function enclose(model: Model, rho: number, w0: Float64Array, budget: number, withH = true, tick?: (done: number, total: number) => void): { h: Enc; entries: number } {
  const p = model.paramCount;
  const g = model.graph;
  const counter = new Budget(budget, p);
  const paramOf = new Map(model.params.map((q) => [q.node, q]));
  const dataOf = new Map(model.data.map((d) => [d.node, d]));
  const vacc = new VecAcc(p, counter);
  const macc = new MatAcc(p, counter);

  const fresh = (n: number): Enc => ({
    vm: new Float64Array(n), vr: new Float64Array(n), ve: new Float64Array(n),
    g: new Array<SVec>(n).fill(EMPTY_V), H: new Array<SMat>(n).fill(EMPTY_M), gInf: null, hInf: null,
  });
  const finish = (e: Enc) => {
    // Mean value refinement of the value ranges.
    for (let i = 0; i < e.vm.length; i++) {
      if (e.g[i]!.i.length === 0) continue;
      const mv = infl(e.vm[i]!, rho * gradNormBound(e.g[i]!) + e.ve[i]!);
      if (!e.gInf && mv < e.vr[i]!) e.vr[i] = mv;
    }
    return e;
  };

  /** y = f(x) elementwise (see the file comment for the three rules). */
  const unaryEnc = (x: Enc, f: ScalarBounds | ((i: number) => ScalarBounds), name: string): Enc => {
    const n = x.vm.length;
    const y = fresh(n);
    y.gInf = x.gInf;
    y.hInf = x.hInf;
    const one = typeof f === 'function' ? null : boundsOf(f);
    for (let i = 0; i < n; i++) {
      const fn = one ?? boundsOf((f as (i: number) => ScalarBounds)(i));
      const m = x.vm[i]!, r = x.vr[i]!, lo = m - r, hi = m + r;
      const S1 = fn.sup(1, lo, hi), S2 = fn.sup(2, lo, hi), S3 = fn.sup(3, lo, hi);
      const times = (S: number, t: number) => (t === 0 ? 0 : S * t);
      const fm = fn.f(m);
      y.vm[i] = fm;
      y.vr[i] = infl(fm, times(S1, r) + 4 * U * Math.abs(fm));
      y.ve[i] = infl(fm, times(S1, x.ve[i]!) + 4 * U * Math.abs(fm));
      if (fn.range && r > 0) {
        // Both fm ± vr and the exact range enclose f over [lo, hi]: keep their intersection,
        // re-centred (the centre moves by |mid − fm|, added to the centre's error ve).
        const [rl, rh] = fn.range(lo, hi);
        const a = Math.max(fm - y.vr[i]!, rl), b = Math.min(fm + y.vr[i]!, rh);
        if (a <= b && (a > fm - y.vr[i]! || b < fm + y.vr[i]!)) {
          const mid = 0.5 * (a + b);
          y.vm[i] = mid;
          y.vr[i] = infl(mid, 0.5 * (b - a));
          y.ve[i] = infl(mid, y.ve[i]! + Math.abs(mid - fm));
        }
      }
      if (x.g[i]!.i.length === 0) continue;
      if (!Number.isFinite(S1) || !Number.isFinite(y.vr[i]!)) {
        y.gInf ??= `${name} is unbounded or overflows on the range its argument reaches on the ball`;
        y.hInf ??= y.gInf;
        continue;
      }
      // σ'(x) ∈ σ'(vm) ± S2·vr (mean value) and ⊂ ±S1.
      const [d1m, d1r] = clip(fn.d1(m), times(S2, r), S1);
      vacc.add(x.g[i]!, d1m, d1r);
      y.g[i] = vacc.take();
      if (!withH) continue; // first order only: Hessians stay empty (and are not used)
      if (!Number.isFinite(S2)) {
        y.hInf ??= `the second derivative of ${name} is unbounded on the range its argument reaches`;
        continue;
      }
      const [d2m, d2r] = clip(fn.d2(m), times(S3, r), S2);
      macc.add(x.H[i]!, d1m, d1r);
      macc.outer(x.g[i]!, x.g[i]!, d2m, d2r, true);
      y.H[i] = macc.take();
    }
    return y;
  };

  /**
   * Element e of a sum of terms: its midpoint vm and radii (vr, ve) inflated by the rounding of the
   * sum (`rounding`, cnt·2⁻⁵²·Σ|terms|), and the accumulated gradient and Hessian, if any.
   */
  const store = (y: Enc, e: number, vm: number, vr: number, ve: number, rounding: number, anyG: boolean, anyH: boolean) => {
    y.vm[e] = vm;
    y.vr[e] = infl(vm, vr + rounding);
    y.ve[e] = infl(vm, ve + rounding);
    if (anyG) y.g[e] = vacc.take();
    if (anyH) y.H[e] = macc.take();
  };

  /**
   * Σ_t a_t·b_t for each output element (elementwise product: one term; matmul: K terms). Product
   * rule: ∇(ab) = a∇b + b∇a, ∇²(ab) = a∇²b + b∇²a + ∇a∇bᵀ + ∇b∇aᵀ, each factor's value taken
   * over its range on the ball; a factor with no gradient (data) enters as its exact value.
   */
  const productSum = (A: Enc, B: Enc, n: number, terms: (e: number, emit: (ia: number, ib: number) => void) => void): Enc => {
    const y = fresh(n);
    y.gInf = A.gInf ?? B.gInf;
    y.hInf = A.hInf ?? B.hInf;
    for (let e = 0; e < n; e++) {
      let vm = 0, vr = 0, ve = 0, sa = 0, cnt = 0;
      let anyG = false, anyH = false;
      terms(e, (ia, ib) => {
        const am = A.vm[ia]!, ar = A.vr[ia]!, bm = B.vm[ib]!, br = B.vr[ib]!;
        const pm = am * bm;
        vm += pm;
        sa += Math.abs(pm);
        cnt++;
        vr += infl(pm, Math.abs(am) * br + ar * Math.abs(bm) + ar * br);
        ve += infl(pm, Math.abs(am) * B.ve[ib]! + A.ve[ia]! * Math.abs(bm) + A.ve[ia]! * B.ve[ib]!);
        const ga = A.g[ia]!, gb = B.g[ib]!;
        if (gb.i.length) { vacc.add(gb, am, ar); anyG = true; }
        if (ga.i.length) { vacc.add(ga, bm, br); anyG = true; }
        if (!withH) return;
        if (B.H[ib]!.k.length) { macc.add(B.H[ib]!, am, ar); anyH = true; }
        if (A.H[ia]!.k.length) { macc.add(A.H[ia]!, bm, br); anyH = true; }
        if (ga.i.length && gb.i.length) {
          macc.outer(ga, gb, 1, 0);
          anyH = true;
        }
      });
      store(y, e, vm, vr, ve, cnt * 2 ** -52 * sa, anyG, anyH);
    }
    return y;
  };

  /** Linear combination: output e = Σ over (input element, coefficient) pairs. */
  const linear = (X: Enc[], n: number, terms: (e: number, emit: (x: number, i: number, c: number) => void) => void): Enc => {
    const y = fresh(n);
    y.gInf = X.find((x) => x.gInf)?.gInf ?? null;
    y.hInf = X.find((x) => x.hInf)?.hInf ?? null;
    for (let e = 0; e < n; e++) {
      let vm = 0, vr = 0, ve = 0, sa = 0, cnt = 0, anyG = false, anyH = false;
      terms(e, (xi, i, c) => {
        const x = X[xi]!;
        const pm = c * x.vm[i]!;
        vm += pm;
        sa += Math.abs(pm);
        cnt++;
        vr += infl(pm, Math.abs(c) * x.vr[i]!);
        ve += infl(pm, Math.abs(c) * x.ve[i]!);
        if (x.g[i]!.i.length) { vacc.add(x.g[i]!, c, 0); anyG = true; }
        if (withH && x.H[i]!.k.length) { macc.add(x.H[i]!, c, 0); anyH = true; }
      });
      store(y, e, vm, vr, ve, cnt * 2 ** -52 * sa, anyG, anyH);
    }
    return y;
  };

  /** A pure gather (structural op): copies, no arithmetic. */
  const gather = (X: Enc[], input: Int32Array, index: Int32Array): Enc => {
    const n = input.length;
    const y = fresh(n);
    y.gInf = X.find((x) => x.gInf)?.gInf ?? null;
    y.hInf = X.find((x) => x.hInf)?.hInf ?? null;
    for (let e = 0; e < n; e++) {
      const xi = input[e]!;
      if (xi < 0) continue;
      const x = X[xi]!, i = index[e]!;
      y.vm[e] = x.vm[i]!; y.vr[e] = x.vr[i]!; y.ve[e] = x.ve[i]!; y.g[e] = x.g[i]!; y.H[e] = x.H[i]!;
    }
    return y;
  };

  const constEnc = (data: Float64Array | number, n: number): Enc => {
    const y = fresh(n);
    if (typeof data === 'number') y.vm.fill(data);
    else y.vm.set(data);
    return y;
  };

  const kit: PassKit<Enc> = {
    input: (y) => {
      const n = g.sizeOf(y);
      const q = paramOf.get(y);
      if (!q) {
        const d = dataOf.get(y);
        if (!d) throw new Error(`internal: input '${g.attrs(y).name}' (${g.attrs(y).role}) in the model's output`);
        return constEnc(d.value, n);
      }
      // w_j ∈ [w0_j − ρ, w0_j + ρ] on the ball; ∂w_j/∂w = e_j exactly; ∂²w_j = 0.
      const x = fresh(n);
      for (let i = 0; i < n; i++) {
        const j = q.offset + i;
        x.vm[i] = w0[j]!;
        x.vr[i] = rho;
        x.g[i] = { i: Int32Array.of(j), m: Float64Array.of(1), r: Float64Array.of(0) };
      }
      return x;
    },
    exact: constEnc,
    smooth: unaryEnc,
    linear,
    product: productSum,
    gather: (y, X) => {
      const { input, index } = gatherIndex(g, y);
      return gather(X, input, index);
    },
    select: (x, index) => gather([x], new Int32Array(index.length), index),
    sign: signEnc,
    abs: absEnc,
    isConstant: (x) => x.g.every((v) => v.i.length === 0) && x.vr.every((r) => r === 0),
    mid: (x, i) => x.vm[i]!,
    // every node, whatever rule produced it: overflow marked, then the mean value refinement
    finish: (y, op) => finish(markOverflow(y, op)),
  };
  return { h: traverse(model, kit, counter, tick), entries: counter.peak };

  /** sign(x): constant (±1, zero derivatives) where the range excludes 0; otherwise a jump. */
  function signEnc(x: Enc): Enc {
    const n = x.vm.length;
    const y = fresh(n);
    for (let i = 0; i < n; i++) {
      const lo = x.vm[i]! - x.vr[i]!, hi = x.vm[i]! + x.vr[i]!;
      if (lo > 0 || hi < 0) y.vm[i] = Math.sign(x.vm[i]!);
      else {
        y.vr[i] = 1; y.ve[i] = 1;
        if (x.g[i]!.i.length) {
          y.gInf ??= 'a sign (jump) inside the ball';
          y.hInf ??= y.gInf;
        }
      }
    }
    return y;
  }

  /**
   * |x| where x·sign(x) appears (abs, relu = (x + |x|)/2). Value: ||x(w)| − |vm|| ≤ |x(w) − vm|.
   * Where the range excludes 0, |x| = ±x there and the derivatives follow exactly. Otherwise |x|
   * is 1-Lipschitz in x with ∇|x| = sign(x)∇x almost everywhere, so each partial derivative lies
   * in ±(|gm| + gr) (enough for Lip(h), since a Lipschitz function's constant on a convex set is
   * the essential sup of its gradient norm); the Hessian has a jump: unbounded.
   */
  function absEnc(x: Enc): Enc {
    const n = x.vm.length;
    const y = fresh(n);
    y.gInf = x.gInf; y.hInf = x.hInf;
    for (let i = 0; i < n; i++) {
      const m = x.vm[i]!, r = x.vr[i]!;
      y.vm[i] = Math.abs(m); y.vr[i] = r; y.ve[i] = x.ve[i]!;
      const gv = x.g[i]!;
      if (m - r > 0 || m + r < 0) {
        const s = Math.sign(m);
        y.g[i] = s > 0 ? gv : { i: gv.i, m: gv.m.map((v) => -v), r: gv.r };
        const H = x.H[i]!;
        y.H[i] = s > 0 ? H : { k: H.k, m: H.m.map((v) => -v), r: H.r };
      } else if (gv.i.length) {
        y.g[i] = { i: gv.i, m: new Float64Array(gv.i.length), r: gv.m.map((v, t) => infl(0, Math.abs(v) + gv.r[t]!)) };
        y.hInf ??= 'a kink of abs or relu lies inside the ball (the function is not twice differentiable there)';
      }
    }
    return y;
  }
}


// ------------------------------------------------------------------ from enclosures to norms

/**
 * ρ(M) of a nonnegative matrix given as x ↦ Mx: power iteration for a good positive x, then the
 * Collatz–Wielandt bound max_i (Mx)_i/x_i ≥ ρ(M), valid for every x > 0 (entries floored).
 */
function perronUpper(apply: (x: Float64Array) => Float64Array, n: number, iters = 200): number {
  if (n === 0) return 0;
  let x: Float64Array = new Float64Array(n).fill(1);
  let best = Infinity;
  let stall = 0;
  for (let it = 0; it < iters; it++) {
    let mx = 0;
    for (const v of x) mx = Math.max(mx, v);
    if (mx === 0) return 0;
    if (!Number.isFinite(mx)) return Infinity;
    const floor = mx * 1e-9;
    for (let i = 0; i < n; i++) x[i] = Math.max(x[i]! / mx, floor / mx);
    const y = apply(x);
    let cw = 0;
    for (let i = 0; i < n; i++) cw = Math.max(cw, y[i]! / x[i]!);
    // An overflow (or a NaN from one) bounds nothing: say so with +∞, which every caller's
    // Math.min keeps only when no finite relaxation exists (Math.max would keep NaN silently).
    if (!Number.isFinite(cw)) return Infinity;
    // Stop when the bound has stopped improving (reducible matrices never close the gap
    // between the largest and smallest ratios, so that cannot be the test).
    stall = cw < best * (1 - 1e-10) ? 0 : stall + 1;
    best = Math.min(best, cw);
    x = y;
    if (cw === 0) return 0;
    if (stall >= 3) break;
  }
  // Each (Mx)_i was summed in floating point from nonnegative terms: relative error ≤ n·2⁻⁵³.
  return best * (1 + (n + 4) * 2 ** -52);
}

/**
 * A bound on sup_B ‖Dh‖ from the enclosures J(w) ∈ M ± R (k×p, M the midpoints, R ≥ 0 the
 * radii), the smaller of
 *   (i)  ‖|M| + R‖, since |J(w)| ≤ |M| + R entrywise and ‖J‖ ≤ ‖|J|‖ ≤ ‖|M| + R‖;
 *   (ii) ‖M‖ + ‖R‖ (triangle inequality), with ‖M‖² = ρ(MMᵀ) ≤ ρ(|MMᵀ| + E), E = γ|M||M|ᵀ
 *        covering the rounding of the Gram matrix's sums of p products (γ = (p + 2)·2⁻⁵²);
 *        kept signed, it keeps the cancellations between outputs that (i) loses.
 * Each spectral radius of a nonnegative matrix is bounded by Collatz–Wielandt.
 */
function jacobianBoundUnscaled(h: Enc, p: number): number {
  const k = h.vm.length;
  const sparseOps = (vals: (v: SVec, t: number) => number) => {
    const rows = h.g.map((v) => ({ i: v.i, a: Float64Array.from(v.m, (_m, t) => vals(v, t)) }));
    const Ax = (x: Float64Array) => Float64Array.from(rows, (r) => { let s = 0; for (let t = 0; t < r.i.length; t++) s += r.a[t]! * x[r.i[t]!]!; return s; });
    const ATy = (y: Float64Array) => { const o = new Float64Array(p); rows.forEach((r, a) => { for (let t = 0; t < r.i.length; t++) o[r.i[t]!] += r.a[t]! * y[a]!; }); return o; };
    return { rows, Ax, ATy };
  };
  const normOf = (ops: ReturnType<typeof sparseOps>) =>
    Math.sqrt(k <= p ? perronUpper((y) => ops.Ax(ops.ATy(y)), k) : perronUpper((x) => ops.ATy(ops.Ax(x)), p)) * (1 + 4 * U);
  const b1 = normOf(sparseOps((v, t) => Math.abs(v.m[t]!) + v.r[t]!));
  let b2 = Infinity;
  const nnz = h.g.reduce((s, v) => s + v.i.length, 0);
  if (k * nnz <= 5e7) {
    const R = normOf(sparseOps((v, t) => v.r[t]!));
    const absM = sparseOps((v, t) => Math.abs(v.m[t]!));
    // |MMᵀ| (k×k) from the sparse rows, by a dense scatter of each row.
    const G = new Float64Array(k * k);
    const dense = new Float64Array(p);
    h.g.forEach((va, a) => {
      for (let t = 0; t < va.i.length; t++) dense[va.i[t]!] = va.m[t]!;
      for (let b = 0; b < k; b++) {
        const vb = h.g[b]!;
        let s = 0;
        for (let t = 0; t < vb.i.length; t++) s += dense[vb.i[t]!]! * vb.m[t]!;
        G[a * k + b] = Math.abs(s);
      }
      for (let t = 0; t < va.i.length; t++) dense[va.i[t]!] = 0;
    });
    const gamma = (p + 2) * 2 ** -52;
    const M2 = perronUpper((y) => {
      const o = absM.Ax(absM.ATy(y));
      for (let a = 0; a < k; a++) {
        let s = 0;
        for (let b = 0; b < k; b++) s += G[a * k + b]! * y[b]!;
        o[a] = s + gamma * o[a]!;
      }
      return o;
    }, k);
    b2 = (Math.sqrt(M2) + R) * (1 + 4 * U);
  }
  return Math.min(b1, b2);
}

/**
 * The power of two 2^e with 2^(e−1) < mx ≤ 2^e, for scaling a block so that its largest entry is
 * at most 1: the norms square entries, and ‖T‖ of a tensor with entries near 1e181 is finite
 * (1e181) while its squares are not. Multiplying by 2^−e is exact except for entries that
 * underflow, each off by ≤ 2⁻¹⁰⁷⁴; `SCALED_SLACK` per entry covers them and the products
 * that underflow inside the spectral bounds (≤ 2⁻¹⁰⁷⁴ each, at most a square root away: 2⁻⁵³⁷).
 */
function scaleOf(mx: number): number {
  return 2 ** Math.min(1000, Math.max(-1000, Math.ceil(Math.log2(mx))));
}
const SCALED_SLACK = 2 ** -500;

/**
 * `jacobianBoundUnscaled` on Dh's enclosure scaled by a power of two (exact), so that squares of
 * large entries do not overflow; +∞ when even the scaled arithmetic overflows (the caller makes
 * that a null bound with its reason).
 */
function jacobianBound(h: Enc, p: number): number {
  let mx = 0, nnz = 0;
  for (const v of h.g) {
    nnz += v.i.length;
    for (let t = 0; t < v.i.length; t++) mx = Math.max(mx, Math.abs(v.m[t]!) + v.r[t]!);
  }
  if (!Number.isFinite(mx)) return Infinity;
  if (mx === 0) return jacobianBoundUnscaled(h, p);
  const s = scaleOf(mx);
  const g = h.g.map((v) => ({ i: v.i, m: v.m.map((x) => x / s), r: v.r.map((x) => x / s) }));
  const b = jacobianBoundUnscaled({ ...h, g }, p);
  return Number.isFinite(b) ? (b + (nnz + 8) * SCALED_SLACK) * s : Infinity;
}

type Entry = [number, number, number, number];
type Entry3 = [number, number, number];

/** o += T x for a symmetric matrix given by its upper-triangle entries. */
function symMul(list: Entry3[], x: Float64Array, o: Float64Array): void {
  for (const [j, l, v] of list) {
    o[j] += v * x[l]!;
    if (j !== l) o[l] += v * x[j]!;
  }
}

/**
 * ‖T‖ for a nonnegative tensor given as q symmetric n×n matrices T_a: the smallest of
 * B1 = (Σ_a ρ(T_a)²)^{1/2}, B2 = ρ(Σ_a T_a²)^{1/2}, B3 = ρ(G)^{1/2} with G_ab = ⟨T_a, T_b⟩_F
 * (see the file comment), each by Collatz–Wielandt.
 */
function nonnegTensorBound(mats: Entry3[][], n: number): { bound: number; how: 'per-output' | 'stacked' | 'frobenius' } {
  const apply1 = (list: Entry3[]) => (x: Float64Array) => { const o = new Float64Array(n); symMul(list, x, o); return o; };
  let s1 = 0;
  for (const list of mats) s1 += perronUpper(apply1(list), n) ** 2;
  const b1 = Math.sqrt(s1 * (1 + 8 * U));
  let b2: number;
  const q0 = mats.length;
  if (n <= 400 && q0 * n * n * n <= 5e7) {
    // Σ_a T_a² formed densely once (nonnegative sums: rounding ≤ (qn)·2⁻⁵³ relative, covered
    // by the final inflation), then Collatz–Wielandt on the n×n matrix.
    const S = new Float64Array(n * n);
    const d = new Float64Array(n * n);
    for (const list of mats) {
      d.fill(0);
      for (const [j, l, v] of list) { d[j * n + l] = v; d[l * n + j] = v; }
      for (let i = 0; i < n; i++)
        for (let t = 0; t < n; t++) {
          const dit = d[i * n + t]!;
          if (dit === 0) continue;
          for (let j = 0; j < n; j++) S[i * n + j] += dit * d[t * n + j]!;
        }
    }
    b2 = Math.sqrt(perronUpper((x) => {
      const o = new Float64Array(n);
      for (let i = 0; i < n; i++) { let acc = 0; for (let j = 0; j < n; j++) acc += S[i * n + j]! * x[j]!; o[i] = acc; }
      return o;
    }, n) * (1 + (q0 * n + 4) * 2 ** -52));
  } else
    b2 = Math.sqrt(perronUpper((x) => {
      const o = new Float64Array(n);
      for (const list of mats) symMul(list, apply1(list)(x), o);
      return o;
    }, n));
  let b3 = Infinity;
  const q = mats.length;
  if (q * q * n * n <= 4e7) {
    const dense = mats.map((list) => { const d = new Float64Array(n * n); for (const [j, l, v] of list) { d[j * n + l] = v; d[l * n + j] = v; } return d; });
    const G = new Float64Array(q * q);
    for (let x = 0; x < q; x++) for (let y = x; y < q; y++) {
      let s = 0;
      const dx = dense[x]!, dy = dense[y]!;
      for (let i = 0; i < n * n; i++) s += dx[i]! * dy[i]!;
      G[x * q + y] = G[y * q + x] = s;
    }
    b3 = Math.sqrt(perronUpper((z) => { const o = new Float64Array(q); for (let x = 0; x < q; x++) { let s = 0; for (let y = 0; y < q; y++) s += G[x * q + y]! * z[y]!; o[x] = s; } return o; }, q));
  }
  const bound = Math.min(b1, b2, b3) * (1 + (n + 8) * U);
  return { bound, how: b1 <= Math.min(b2, b3) ? 'per-output' : b2 <= b3 ? 'stacked' : 'frobenius' };
}

/**
 * ‖T‖ for signed symmetric matrices M_a (the midpoints), keeping their signs: the smaller of
 *   ρ(Σ_a M_a²)^{1/2} — Σ_a M_a² is positive semidefinite, its largest eigenvalue is at most
 *     ρ(|Σ_a M_a²| + E) where E = γ·Σ_a |M_a|² covers the rounding of the q·n-term sums;
 *   ρ(G)^{1/2}, G_ab = ⟨M_a, M_b⟩_F, at most ρ(|G| + γ'·⟨|M_a|, |M_b|⟩).
 * Infinity when the block is too large for dense n×n work.
 */
function signedTensorBound(mats: Entry[][], n: number): number {
  const q = mats.length;
  if (n > 400 || q * n * n * n > 5e7) return Infinity;
  const dense = mats.map((list) => { const d = new Float64Array(n * n); for (const [j, l, m] of list) { d[j * n + l] = m; d[l * n + j] = m; } return d; });
  const S = new Float64Array(n * n), Sabs = new Float64Array(n * n);
  for (const d of dense)
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        let s = 0, sa = 0;
        for (let t = 0; t < n; t++) { s += d[i * n + t]! * d[t * n + j]!; sa += Math.abs(d[i * n + t]! * d[t * n + j]!); }
        S[i * n + j] += s;
        Sabs[i * n + j] += sa;
      }
  const gamma = (q * n + 4) * 2 ** -52;
  const mulDense = (A: Float64Array, B: Float64Array | null, c: number, m: number) => (x: Float64Array) => {
    const o = new Float64Array(m);
    for (let i = 0; i < m; i++) {
      let s = 0;
      for (let j = 0; j < m; j++) s += (Math.abs(A[i * m + j]!) + (B ? c * B[i * m + j]! : 0)) * x[j]!;
      o[i] = s;
    }
    return o;
  };
  const b2 = Math.sqrt(perronUpper(mulDense(S, Sabs, gamma, n), n));
  let b3 = Infinity;
  if (q * q * n * n <= 4e7) {
    const G = new Float64Array(q * q), Gabs = new Float64Array(q * q);
    for (let x = 0; x < q; x++) for (let y = x; y < q; y++) {
      let s = 0, sa = 0;
      const dx = dense[x]!, dy = dense[y]!;
      for (let i = 0; i < n * n; i++) { s += dx[i]! * dy[i]!; sa += Math.abs(dx[i]! * dy[i]!); }
      G[x * q + y] = G[y * q + x] = s;
      Gabs[x * q + y] = Gabs[y * q + x] = sa;
    }
    b3 = Math.sqrt(perronUpper(mulDense(G, Gabs, (n * n + 4) * 2 ** -52, q), q));
  }
  return Math.min(b2, b3) * (1 + 8 * U);
}

function summarize(h: Enc, p: number, entries: number): EnclosureResult {
  const k = h.vm.length;
  let lipH: number | null = null;
  let lipDh: number | null = null;
  let lipHNote: string | null = null;
  let lipDhNote: string | null = null;
  if (h.gInf) lipHNote = `no certified bound: ${h.gInf}`;
  else {
    const b = jacobianBound(h, p);
    if (b < Infinity) lipH = b;
    else lipHNote = 'no certified bound: the bound of ‖Dh‖ overflows in floating point';
  }
  let blocks = 0, largest = 0;
  let relaxation: EnclosureResult['relaxation'] = null;
  if (h.hInf) lipDhNote = `no certified bound: ${h.hInf}`;
  else {
    // Components of the weights linked by a nonzero Hessian entry of some output.
    const parent = new Int32Array(p).map((_, i) => i);
    const find = (x: number): number => { while (parent[x] !== x) { parent[x] = parent[parent[x]!]!; x = parent[x]!; } return x; };
    for (const H of h.H) for (const key of H.k) {
      const j = Math.floor(key / p), l = key - j * p;
      const a = find(j), b = find(l);
      if (a !== b) parent[a] = b;
    }
    // Per component: each output's block as a list of (local j, local l, mid, radius) entries.
    const compOf = new Map<number, { vars: Map<number, number>; mats: Map<number, Entry[]> }>();
    h.H.forEach((H, a) => {
      for (let t = 0; t < H.k.length; t++) {
        const key = H.k[t]!, j = Math.floor(key / p), l = key - j * p;
        const root = find(j);
        let c = compOf.get(root);
        if (!c) compOf.set(root, (c = { vars: new Map(), mats: new Map() }));
        const lj = c.vars.get(j) ?? (c.vars.set(j, c.vars.size), c.vars.size - 1);
        const ll = c.vars.get(l) ?? (c.vars.set(l, c.vars.size), c.vars.size - 1);
        let list = c.mats.get(a);
        if (!list) c.mats.set(a, (list = []));
        list.push([lj, ll, H.m[t]!, H.r[t]!]);
      }
    });
    let worst = 0;
    let overflow: string | null = null;
    for (const c of compOf.values()) {
      blocks++;
      const n = c.vars.size;
      largest = Math.max(largest, n);
      // Scaled by a power of two so that the largest |m| + r is at most 1 (see scaleOf).
      let mx = 0, cnt = 0;
      for (const list of c.mats.values()) for (const [, , m, r] of list) { mx = Math.max(mx, Math.abs(m) + r); cnt++; }
      if (!Number.isFinite(mx)) {
        overflow = `the Hessian enclosure of a block of ${n} weights is not finite`;
        break;
      }
      if (mx === 0) continue;
      const s = scaleOf(mx);
      const mats = [...c.mats.values()].map((list) => list.map(([j, l, m, r]) => [j, l, m / s, r / s] as Entry));
      // ‖T_c‖ ≤ ‖(|M| + R)_c‖ (majorant), and ≤ ‖M_c‖ + ‖R_c‖ (triangle inequality).
      const major = nonnegTensorBound(mats.map((list) => list.map(([j, l, m, r]) => [j, l, Math.abs(m) + r] as Entry3)), n);
      let b = major.bound;
      let how: EnclosureResult['relaxation'] = major.how;
      const signed = signedTensorBound(mats, n);
      if (signed < Infinity) {
        const rad = nonnegTensorBound(mats.map((list) => list.map(([j, l, , r]) => [j, l, r] as Entry3)), n).bound;
        const sb = (signed + rad) * (1 + 4 * U);
        if (sb < b) { b = sb; how = 'signed'; }
      }
      b = (b + (cnt + 8) * SCALED_SLACK) * s;
      // Never skip a block whose bound overflowed (NaN > worst is false): the bound is null.
      if (!(b < Infinity)) {
        overflow = `the bound of a block of ${n} weights overflows (its largest Hessian entry is ${(mx).toPrecision(3)})`;
        break;
      }
      if (b > worst) {
        worst = b;
        relaxation = how;
      }
    }
    if (overflow) {
      lipDhNote = `no certified bound: ${overflow}`;
      relaxation = null;
    } else lipDh = worst;
  }
  return { lipH, lipDh, lipHNote, lipDhNote, blocks, largestBlock: largest, relaxation, entries, lipHMethod: lipH === null ? null : 'enclosure' };
}
