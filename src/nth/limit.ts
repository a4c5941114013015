/**
 * The infinite-width limits of a program: the NNGP 𝒦 = lim E[h(a) h(b)] and the NTK
 * Θ = lim Dh(a)·Dh(b)ᵀ as the named width dims m → ∞ together (MATH.md §5, seed 003,
 * Yang's Tensor Programs), derived from the model's graph, not from a list of layers.
 *
 * How. The model is elaborated at three small probe widths t1 < t2 < t3 (each width dim set to
 * its ratio times t); the graphs must have the same structure, and comparing them tells which
 * axes are width axes (size κ·t) and which constants scale as c·t^e (1/sqrt(m): e = −½). The
 * probe graph is then interpreted abstractly in topological order, on the one-row graph of a
 * row-separable model (each row an input a; a `test` declaration adds its rows, which must be
 * the same function of their rows):
 *  - a product W·y of a weight W (i.i.d. entries, mean 0, variance σ²) with a width-free data
 *    vector y or a hidden vector y makes a *source*: over the width its coordinates are i.i.d.
 *    and across inputs Gaussian with covariance Σ(a,b) = σ²·Σ_j y_j(a) y_j(b); its per-coordinate
 *    tangent kernel is Θ(a,b) = Σ_j y_j(a) y_j(b) (the entries of W) + σ²·Σ_j Θ_{y_j}(a,b)
 *    (everything upstream; gradient independence). A width vector b (bias) is a source with
 *    Σ = σ²·1, Θ = 1. Sources from different matrices are independent.
 *  - a hidden vector is a sum of terms c·φ(G) with G a linear combination of sources and φ a
 *    scalar function tree (any composition of elementwise ops: sin(tanh(u)) included). Its
 *    per-coordinate second moment is E(a,b) = Σ_{t,t'} c c' E[φ_t(G_t(a)) φ_t'(G_t'(b))] and its
 *    tangent kernel Σ c c' E[φ_t′ φ_t'′]·Θ_{G_t,G_t'}(a,b); the pair expectations come from
 *    `math/gaussian.ts` (closed forms, else adaptive quadrature).
 *  - a readout (a weight contracted with a hidden or data vector over its whole length) makes an
 *    output source by the same two formulas; output biases add σ²·1 and 1. The NNGP and NTK of
 *    the outputs are the sums over their sources. Multiple readout rows are independent
 *    (Θ ⊗ I_k).
 * Scalings are tracked as exponents of t: a quantity c·t^e with e ≠ 0 has no finite limit, and
 * the report gives its growth exponent instead (standard parametrization: ntkGrowth 1; mean-field
 * readouts: negative). A construct outside this class is a located error naming it.
 *
 * @example
 *   const model = loadModel('examples/limit-mlp.ntk');
 *   const r = limitKernels(model, { width: ['m'] });
 *   r.nngp; r.ntk;   // n·k × n·k, outputs of one input grouped
 */
import { dirname, resolve } from 'node:path';
import { vmap } from '../ad/vmap.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { elaborate } from '../ir/elaborate.ts';
import type { Model, ParamInfo } from '../ir/model.ts';
import { isUnary, unreachable, type UnaryOp } from '../ir/ops.ts';
import { restrictRows } from '../ir/rows.ts';
import { sizeOf } from '../ir/shape.ts';
import { F64Pool } from '../runtime/alloc.ts';
import { ensureMemory } from '../runtime/memory.ts';
import { atomFn, expect1, pairExpectation, pairGrid, PairGridCache, type Gemm, type GaussFn } from '../math/gaussian.ts';
import { defaultBackend } from '../runtime/backends.ts';
import { Thousandths } from '../io/progress.ts';

const ONE = atomFn('one');
import { NtkError, type Diagnostic } from '../parser/diagnostics.ts';
import type * as A from '../parser/ast.ts';
import type { Span } from '../parser/ast.ts';
import { compile as compilePlan } from '../runtime/compile.ts';
import {
  bin, cst, derivative, hasJump, isLinear, jumpsAt, kinkPoints, sameSE, show, showTex, TEX_ADD, TEX_ATOM, TEX_MUL, toGaussFn, toTerms, un, VAR, type SE,
} from './limit-scalar.ts';

/** What `limitKernels` takes: the width dims that go to ∞ together, the user's overrides, the quadrature's tolerance. */
export interface LimitOptions {
  /** The width dims (all → ∞ together, in the ratios of their values). */
  width: string[];
  /** The user's `--set` overrides (the width dims are re-set at the probe widths). */
  overrides?: Map<string, number>;
  /** Tolerance of the adaptive quadrature (default 1e-12). */
  tol?: number;
  /**
   * With a `test`: the test × test kernels' diagonals only (`nngpTestDiag`, `ntkTestDiag`; the
   * blocks `nngpTest`, `ntkTest` are null), computed over chunks of `testChunk` test inputs
   * (default: the number of training inputs, at least 64) together with the training inputs, so
   * that memory stays O((n + chunk)²) for any number of test inputs.
   */
  testDiag?: boolean;
  testChunk?: number;
  /** Quadrature even where a closed form exists (to measure the closed forms against it). */
  quadrature?: boolean;
  /**
   * Told how far the derivation is, in thousandths (non-decreasing, ending at 1000): the nodes of
   * the one-row graph interpreted (a Gaussian expectation over all pairs of inputs counted by its
   * rows), over every chunk of test inputs with `testDiag`.
   */
  onProgress?: (done: number, total: number) => void;
  /**
   * Told, before the derivation allocates its N×N arrays, the peak bytes it will hold besides
   * the report's kernels (`limitWorkingSet`); throws (MemoryError) to refuse. Default:
   * `ensureMemory` against the one memory budget.
   */
  checkWorkingSet?: (bytes: number) => void;
}

/** How each pair expectation was computed. */
export interface LimitMethod {
  pair: string;
  method: 'closed' | 'quadrature' | 'exact';
  order: number;
  accuracy: number;
}

/**
 * A kernel as the derivation computes it: `rows × cols`, row-major, in one Float64Array — what
 * `limitKernelsDense` returns and `--out` writes, with no array of numbers per row.
 */
export interface DenseMatrix { rows: number; cols: number; data: Float64Array }

/**
 * `limitKernels`'s report (the JSON of `ntk limit`): the NNGP 𝒦 = lim E[h hᵀ] and the NTK
 * Θ = lim Dh Dhᵀ of the infinite-width limit on the training inputs (n·k × n·k), how each
 * Gaussian expectation was computed and how accurate it is. The kernels are `number[][]`
 * (`LimitReport`, as printed) or `DenseMatrix` (`LimitDense`, as computed).
 */
export type LimitReport = LimitReportOf<number[][]>;
/** The report with its kernels as computed (`limitKernelsDense`). */
export type LimitDense = LimitReportOf<DenseMatrix>;

/** The limit's report with kernels of type K (see `LimitReport`). */
export interface LimitReportOf<K> {

  width: string[];
  /** Training inputs (rows) and outputs per input. */
  n: number;
  outputs: number;
  /** n·k × n·k, outputs of one input grouped; null when the limit is not finite (see growth). */
  nngp: K | null;
  ntk: K | null;
  /** The exponent e of m in the kernel's size (0: a finite limit; null: identically zero). */
  nngpGrowth: number | null;
  ntkGrowth: number | null;
  /** Why the NTK is not given, when it is not. */
  ntkNote?: string;
  /** With a `test` declaration: test × train and test × test blocks. */
  nngpCross?: K | null;
  ntkCross?: K | null;
  nngpTest?: K | null;
  ntkTest?: K | null;
  nTest?: number;
  /** With `testDiag`: the diagonals of the test × test blocks (the variances' kernels). */
  nngpTestDiag?: number[] | null;
  ntkTestDiag?: number[] | null;
  method: LimitMethod[];
  /** Largest estimated absolute error of any entry (quadrature and rounding). */
  accuracy: number;
  /** The recursion, one line per source and hidden vector. */
  recursion: string[];
  latex: string[];
}

// ------------------------------------------------------------------ scaled numbers

/** c·t^e. */
interface Sc { c: number; e: number }
/**
 * A matrix M·t^e over input pairs (N×N, row-major); M null is exactly zero. Kernels are
 * symmetric and only their upper triangle (a ≤ b) is computed and valid, unless `full` (the
 * E[φ_i(G_i(a)) φ_j(G_j(b))] of two different terms, which is not symmetric): every loop over a
 * symmetric matrix runs over a ≤ b, and the readers take (min, max). `own`: M was allocated
 * here and may be updated in place; otherwise it is shared (a source's kernel, a cached grid)
 * and copied before any update.
 */
interface SMat { e: number; M: Float64Array | null; full?: boolean; own?: boolean }
/**
 * Where the kernels' N × N arrays come from: the Deriver's pool (runtime/alloc.ts `F64Pool`),
 * recycled between the nodes of the recursion (`Deriver.sweep`).
 */
interface Mats { readonly N: number; zeros(n: number): Float64Array }
const ZERO: SMat = { e: -Infinity, M: null };
const EPS_E = 1e-9;
const sameE = (a: number, b: number) => Math.abs(a - b) < EPS_E;

/** Entry (a, b) of a kernel, upper-only or full. */
const at = (x: SMat, N: number, a: number, b: number): number =>
  x.full || a <= b ? x.M![a * N + b]! : x.M![b * N + a]!;

/** The rows' index ranges [from, to) a kernel holds: the upper triangle, or all entries. */
const rowFrom = (N: number, full: boolean | undefined, a: number) => (full ? a * N : a * N + a);

function smAdd(a: SMat, b: SMat, P: Mats): SMat {
  if (!a.M) return b;
  if (!b.M) return a;
  if (!sameE(a.e, b.e)) return a.e > b.e ? a : b;
  const N = P.N, M = P.zeros(N * N), A = a.M, B = b.M;
  if (!!a.full !== !!b.full) {
    // a full and an upper-only operand (both symmetric here): the sum on the upper triangle
    for (let i = 0; i < N; i++) for (let j = i; j < N; j++) M[i * N + j] = at(a, N, i, j) + at(b, N, i, j);
    return { e: a.e, M, own: true };
  }
  for (let r = 0; r < N; r++) for (let i = rowFrom(N, a.full, r), end = (r + 1) * N; i < end; i++) M[i] = A[i]! + B[i]!;
  return { e: a.e, M, full: a.full, own: true };
}
function smScale(a: SMat, s: Sc, P: Mats): SMat {
  if (!a.M || s.c === 0) return ZERO;
  if (s.c === 1) return { ...a, e: a.e + s.e, own: false };
  const N = P.N, M = P.zeros(N * N), A = a.M, c = s.c;
  for (let r = 0; r < N; r++) for (let i = rowFrom(N, a.full, r), end = (r + 1) * N; i < end; i++) M[i] = A[i]! * c;
  return { e: a.e + s.e, M, full: a.full, own: true };
}
/** a∘b (entrywise); into a's array when a is owned and has b's layout (a is then consumed). */
function smHadamard(a: SMat, b: SMat, P: Mats): SMat {
  if (!a.M || !b.M) return ZERO;
  const N = P.N, A = a.M, B = b.M, M = a.own && !!a.full === !!b.full ? A : P.zeros(N * N);
  if (!!a.full === !!b.full)
    for (let r = 0; r < N; r++) for (let i = rowFrom(N, a.full, r), end = (r + 1) * N; i < end; i++) M[i] = A[i]! * B[i]!;
  else for (let i = 0; i < N; i++) for (let j = 0; j < N; j++) M[i * N + j] = at(a, N, i, j) * at(b, N, i, j);
  return { e: a.e + b.e, M, full: !!a.full || !!b.full, own: true };
}
const scMul = (a: Sc, b: Sc): Sc => ({ c: a.c * b.c, e: a.e + b.e });

/**
 * acc + k·x (x transposed when `transpose`), keeping the leading exponent, on the upper
 * triangle: every accumulator is a symmetric kernel (a full x is added with its transpose by the
 * caller). `acc` must be null or a value this function returned; it is updated in place when
 * owned, and x is shared, not copied, when it is the first term with k = 1.
 */
function smAxpy(acc: SMat | null, x: SMat, k: Sc, P: Mats, transpose = false): SMat {
  const N = P.N;
  if (!x.M || k.c === 0) return acc ?? ZERO;
  const e = x.e + k.e;
  if (acc && acc.M && acc.e > e && !sameE(acc.e, e)) return acc;
  const add = acc && acc.M && sameE(acc.e, e);
  if (!add && k.c === 1 && !x.full) return { e, M: x.M, own: false };
  const A = add && acc!.own ? acc!.M! : P.zeros(N * N);
  // what k·x is added to: the accumulator (in place, or a shared one read into a new array), or 0
  const S = add ? acc!.M! : null;
  const X = x.M, c = k.c;
  if (transpose && x.full) {
    // A[a,b] = S[a,b] + c·X[b,a] for a ≤ b, in TILE × TILE tiles: read by columns over the whole
    // matrix, X missed the cache on every entry (the transposed terms were 4/5 of limit's time)
    for (let a0 = 0; a0 < N; a0 += TILE)
      for (let b0 = a0; b0 < N; b0 += TILE) {
        const a1 = Math.min(a0 + TILE, N), b1 = Math.min(b0 + TILE, N);
        for (let a = a0; a < a1; a++) {
          const row = a * N;
          if (S) for (let b = Math.max(a, b0); b < b1; b++) A[row + b] = S[row + b]! + c * X[b * N + a]!;
          else for (let b = Math.max(a, b0); b < b1; b++) A[row + b] = c * X[b * N + a]!;
        }
      }
    return { e, M: A, own: true };
  }
  for (let a = 0; a < N; a++) {
    const from = a * N + a, to = (a + 1) * N;
    if (S) for (let i = from; i < to; i++) A[i] = S[i]! + c * X[i]!;
    else for (let i = from; i < to; i++) A[i] = c * X[i]!;
  }
  return { e, M: A, own: true };
}

/** Tile side of the transposed update: a tile of X's columns (TILE cache lines) stays in L1. */
const TILE = 64;

// ------------------------------------------------------------------ abstract values

/** A source: a width (or output) vector whose coordinates are i.i.d. Gaussians. */
interface Source {
  id: number;
  label: string;
  /** Per-coordinate covariance and tangent kernel over input pairs. */
  C: SMat;
  T: SMat;
  /** Number of independent components (readout rows) for output sources. */
  comps: number;
}
/** Σ coef_s · source_s. */
type GSum = Map<number, Sc>;
interface Term { coef: Sc; fn: SE; g: GSum }
interface Block { kappa: number; terms: Term[] }
interface WeightRef {
  /** Identity of the matrix (param name and slice). */
  key: string;
  param: ParamInfo;
  sigma2: Sc;
  coef: Sc;
  node: NodeId;
}
interface OutTerm { src: number; j: number; c: Sc }

type AV =
  | { k: 'det'; node: NodeId }
  | { k: 'scalar'; c: number; e: number }
  | { k: 'weight'; w: WeightRef }
  | { k: 'vec'; blocks: Block[]; node: NodeId }
  | { k: 'prod'; w: WeightRef; vec: { blocks: Block[]; node: NodeId } }
  | { k: 'out'; comps: OutTerm[][] };

class Unsupported extends Error {
  constructor(readonly node: NodeId, message: string, readonly hint?: string) {
    super(message);
  }
}

// ------------------------------------------------------------------ probing the widths

const PROBE_PRIMES = [11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71];

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

interface Probes {
  models: Model[];
  ts: number[];
  /** The probe widths in the user's terms, for messages: 'm = 11, 13, 17' (each width dim at its ratio). */
  at: string;
  /** Per node of the probe graph: κ of each axis (0: not a width axis). */
  kappa: (node: NodeId) => number[];
  /** A const node's value as c·t^e. */
  constScale: (node: NodeId) => Sc;
}

function usage(message: string, hint?: string): never {
  throw new NtkError([{ severity: 'error', file: '--width', span: null, message, ...(hint ? { hint } : {}) }]);
}

function probe(model: Model, opts: LimitOptions): Probes {
  const dims = new Map<string, Span>();
  for (const d of model.program.decls) if (d.kind === 'dim') for (const b of d.bindings) dims.set(b.name, b.nameSpan);
  if (opts.width.length === 0) usage('--width: name the width dim(s), e.g. --width m');
  for (const w of opts.width)
    if (!dims.has(w)) usage(`--width ${w}: the model has no dim named '${w}'`, `its dims: ${[...dims.keys()].join(', ') || '(none)'}`);
  const values = opts.width.map((w) => model.constants.get(w)!);
  const g0 = values.reduce(gcd);
  const ratios = values.map((v) => v / g0);
  const others = new Set<number>();
  for (const [name, v] of model.constants) if (!opts.width.includes(name)) others.add(v);
  const baseDir = dirname(resolve(model.file));
  const tried: number[] = [];
  const candidates = PROBE_PRIMES.filter((p) => ratios.every((r) => !others.has(r * p)));
  for (let start = 0; start + 3 <= candidates.length; start++) {
    const ts = candidates.slice(start, start + 3);
    tried.push(...ts);
    const models = ts.map((t) => {
      const overrides = new Map(opts.overrides ?? []);
      opts.width.forEach((w, i) => overrides.set(w, ratios[i]! * t));
      try {
        return elaborate(model.program, { overrides, seed: model.seed, baseDir });
      } catch (e) {
        if (e instanceof NtkError) throw notResizable(model, opts.width, values, e, opts.width.map((w, i) => `${w} = ${ratios[i]! * t}`).join(', '));
        throw e;
      }
    });
    if (aligned(models)) {
      const [a, b] = models;
      const changed = (x: { shape: number[] }, y: { shape: number[] }) => x.shape.some((d, i) => d !== y.shape[i]);
      const di = a!.data.findIndex((d, i) => changed(d, b!.data[i]!));
      const data = model.data[di];
      if (data)
        usage(`--width ${opts.width.join(',')}: it sizes the data '${data.name}' (${data.shape.join(' × ')}), and data cannot grow with the width`, 'name the hidden width, e.g. the dim of a weight matrix like W : [m, d]');
      if (!a!.params.some((p, i) => changed(p, b!.params[i]!)))
        usage(`--width ${opts.width.join(',')}: it sizes no weight, so nothing has a width to take to infinity`, `the parameters: ${a!.params.map((p) => `${p.name} : [${p.shape.join(', ')}]`).join(', ')}`);
      return makeProbes(models, ts, opts, opts.width.map((w, i) => `${w} = ${ts.map((t) => ratios[i]! * t).join(', ')}`).join('; '));
    }
  }
  throw new NtkError([{
    severity: 'error', file: model.file, span: null,
    message: `the graph's structure changes with the width ${opts.width.join(', ')} (tried widths ${[...new Set(tried)].join(', ')}): a loop or a shape that depends on it cannot be taken to infinity`,
  }]);
}

/**
 * The model fails to build at a probe width: say so in the user's terms. A `param` or `data`
 * whose declaration holds the error has values fixed in the file (load, a literal) that cannot
 * grow with the width: located at those values; anything else is quoted, with the widths tried
 * and what to write instead.
 */
function notResizable(model: Model, width: string[], values: number[], e: NtkError, at: string): NtkError {
  const d = e.diagnostics[0]!;
  const text = (sp: Span) => model.source.slice(sp.start, sp.end);
  const ws = width.join(', '), given = width.map((w, i) => `${w} = ${values[i]}`).join(', ');
  const decl = d.span && model.program.decls.find((x): x is A.ParamDecl | A.DataDecl =>
    (x.kind === 'param' || x.kind === 'data') && x.span.start <= d.span!.start && d.span!.end <= x.span.end);
  if (decl && decl.init.kind === 'value') {
    const shape = decl.shape ? ` : ${text(decl.shape.span)}` : '';
    const message = decl.kind === 'param'
      ? `--width ${ws}: the parameter '${decl.name}'${shape} has fixed values (${text(decl.init.expr.span)}, made for ${given}), so it cannot grow with ${ws}: the infinite-width limit needs weights drawn at random, of a size that follows the width`
      : `--width ${ws}: the data '${decl.name}'${shape} is fixed in the file (${text(decl.init.expr.span)}, made for ${given}), so it cannot grow with ${ws}: data must not depend on the width`;
    const hint = decl.kind === 'param'
      ? `draw it: 'param ${decl.name}${shape} ~ normal(0, 1)' (the limit depends on its variance only), or take the limit in another width dim`
      : `take the limit in the hidden width (the dim of a weight matrix like W : [${width[0]}, d]), not in a dim that sizes data`;
    return new NtkError([{ severity: 'error', file: model.file, span: decl.init.expr.span, message, hint }]);
  }
  return new NtkError([{
    ...d,
    message: `--width ${ws}: the model does not build at other values of ${ws} than ${given} (the limit builds it at ${at}, among others, to find what grows with the width): ${d.message}`,
    hint: `write every size that grows with the width in terms of ${ws} (e.g. [${width[0]}, d], not a number), and draw the arrays it sizes (~ normal(0, σ)) instead of loading them`,
  }]);
}

function aligned(models: Model[]): boolean {
  const [a, ...rest] = models.map((m) => m.graph);
  return rest.every((b) => b!.size === a!.size && a!.ops.every((op, i) => b!.ops[i] === op && sameArgs(a!.args(i), b!.args(i))))
    && models.every((m) => m.output === models[0]!.output && (m.test?.output ?? -1) === (models[0]!.test?.output ?? -1));
}
const sameArgs = (x: number[], y: number[]) => x.length === y.length && x.every((v, i) => v === y[i]);

function makeProbes(models: Model[], ts: number[], opts: LimitOptions, at: string): Probes {
  const gs = models.map((m) => m.graph);
  const kappa = (node: NodeId): number[] => {
    const s = gs.map((g) => g.shape(node));
    return s[0]!.map((d, i) => {
      if (s[1]![i] === d && s[2]![i] === d) return 0;
      const k = d / ts[0]!;
      if (Math.abs(s[1]![i]! - k * ts[1]!) > 1e-9 || Math.abs(s[2]![i]! - k * ts[2]!) > 1e-9)
        throw new Unsupported(node, `an axis whose sizes ${s.map((x) => x[i]).join(', ')} at ${at} (the widths the limit probes) are not proportional to the width ${opts.width.join(', ')}`, `write sizes that grow with the width as multiples of ${opts.width.join(', ')} (e.g. [${opts.width[0]}, d] or [2 * ${opts.width[0]}])`);
      return k;
    });
  };
  const constScale = (node: NodeId): Sc => {
    const v = gs.map((g) => g.attrs(node).value!);
    if (v[0] === v[1] && v[1] === v[2]) return { c: v[0]!, e: 0 };
    return powerLaw(node, v, ts, 'a constant', at);
  };
  return { models, ts, at, kappa, constScale };
}

/** v_i = c·t_i^e, fitted from the first two probes and checked on the third. */
function powerLaw(node: NodeId, v: number[], ts: number[], what: string, at: string): Sc {
  if (v.some((x) => x === 0) || Math.sign(v[0]!) !== Math.sign(v[1]!) || Math.sign(v[1]!) !== Math.sign(v[2]!))
    throw new Unsupported(node, `${what} changes sign or vanishes as the width grows (values ${v.join(', ')} at ${at}, the widths the limit probes)`);
  const e0 = Math.log(v[1]! / v[0]!) / Math.log(ts[1]! / ts[0]!);
  const e = Math.abs(e0 * 2 - Math.round(e0 * 2)) < 1e-9 ? Math.round(e0 * 2) / 2 : e0;
  const c = v[0]! / ts[0]! ** e;
  if (Math.abs(c * ts[2]! ** e - v[2]!) > 1e-9 * Math.abs(v[2]!))
    throw new Unsupported(node, `${what} is not a power of the width (values ${v.join(', ')} at ${at}, the widths the limit probes)`, 'scale it by a power of the width, e.g. 1/sqrt(m)');
  return { c, e };
}

// ------------------------------------------------------------------ the derivation

interface Inputs {
  /** Number of inputs (training rows then test rows). */
  N: number;
  nTrain: number;
  /** One-row stand-in → its stacked values [N, ...row shape]. */
  rows: { standIn: NodeId; batched: NodeId; values: Float64Array }[];
}

/** How much more a matmul or sum node weighs than any other in the derivation's progress (`Deriver.run`). */
const LIMIT_HEAVY_WEIGHT = 50;

class Deriver {
  readonly g: Graph;
  readonly av = new Map<NodeId, AV>();
  readonly sources: Source[] = [];
  readonly sourceByKey = new Map<string, number>();
  readonly weightUses = new Map<string, NodeId>();
  readonly methods = new Map<string, LimitMethod>();
  readonly recursion: string[] = [];
  readonly latex: string[] = [];
  readonly vecNames = new Map<NodeId, string>();
  readonly detCache = new Map<NodeId, Float64Array>();
  readonly vecCache = new Map<NodeId, { S: SMat; TT: SMat }>();
  accuracy = 0;
  jumps: string[] = [];
  /** How far the node being interpreted is (0..1): the derivation's progress hook (`run`). */
  within: (fraction: number) => void = () => {};
  /** The pair moments of the hidden vector under way: done of count (each an N × N grid), for `within`. */
  grids: { done: number; count: number } | null = null;
  onesM: Float64Array | null = null;
  /** Within one block: the covariances of its Gaussian sums and their pair grids' shared work. */
  crossCache = new Map<string, SMat>();
  gridCaches = new Map<string, PairGridCache>();
  /** The backend's gemm (the Mehler coefficients). */
  readonly gemm: Gemm = backendGemm();
  readonly params = new Map<NodeId, ParamInfo>();
  readonly paramScale = new Map<NodeId, Sc>();
  /** Every N × N array of the derivation comes from here and is recycled by `sweep`. */
  readonly pool = new F64Pool();
  readonly mats: Mats;

  constructor(readonly probes: Probes, readonly inputs: Inputs, readonly tol: number, readonly forceQuadrature = false) {
    this.g = probes.models[0]!.graph;
    const pool = this.pool;
    this.mats = { N: inputs.N, zeros: (n) => pool.zeros(n) };
    const [m0, m1, m2] = probes.models;
    m0!.params.forEach((p, i) => {
      this.params.set(p.node, p);
      const inits = [p.init, m1!.params[i]!.init, m2!.params[i]!.init];
      if (inits.every((x) => x && x.dist === 'normal')) {
        const sd = inits.map((x) => (x as { std: number }).std);
        if (inits.some((x) => (x as { mean: number }).mean !== 0)) this.paramScale.set(p.node, { c: NaN, e: 0 });
        else this.paramScale.set(p.node, sd[0] === sd[1] && sd[1] === sd[2] ? { c: sd[0]! ** 2, e: 0 } : powerLaw(p.node, sd.map((s) => s * s), probes.ts, `the variance of ${p.name}`, probes.at));
      } else if (inits.every((x) => x && x.dist === 'uniform')) {
        const lohi = inits.map((x) => x as { lo: number; hi: number });
        if (lohi.some((x) => x.lo !== -x.hi)) this.paramScale.set(p.node, { c: NaN, e: 0 });
        else {
          const v = lohi.map((x) => (x.hi - x.lo) ** 2 / 12);
          this.paramScale.set(p.node, v[0] === v[1] && v[1] === v[2] ? { c: v[0]!, e: 0 } : powerLaw(p.node, v, probes.ts, `the variance of ${p.name}`, probes.at));
        }
      }
    });
  }

  get N() { return this.inputs.N; }

  kappaOf(node: NodeId): number[] {
    return this.probes.kappa(node);
  }

  // ---------------------------------------------------------------- det values

  /** Values of a param-free, width-free node for every input: [N × size]. */
  det(node: NodeId): Float64Array {
    let v = this.detCache.get(node);
    if (v) return v;
    const g = this.g, N = this.N;
    const model = this.probes.models[0]!;
    const size = g.sizeOf(node);
    const bindings = new Map<NodeId, Float64Array>();
    for (const d of model.data) bindings.set(d.node, d.value);
    if (this.inputs.rows.length > 0) {
      const [out] = vmap(g, [node], new Map(this.inputs.rows.map((r) => [r.standIn, r.batched])), [N]);
      for (const r of this.inputs.rows) bindings.set(r.batched, r.values);
      const plan = compilePlan(g, [out!], { fuse: false });
      v = plan.run(new Map([...bindings].filter(([k]) => plan.inputs.includes(k))))[0]!.slice();
    } else {
      const plan = compilePlan(g, [node], { fuse: false });
      const one = plan.run(new Map([...bindings].filter(([k]) => plan.inputs.includes(k))))[0]!;
      v = new Float64Array(N * size);
      for (let a = 0; a < N; a++) v.set(one, a * size);
    }
    this.detCache.set(node, v);
    return v;
  }

  /** Σ_j y_j(a) y_j(b) of a det node. */
  gram(node: NodeId): SMat {
    const y = this.det(node), N = this.N, d = y.length / N;
    const M = this.mats.zeros(N * N);
    for (let a = 0; a < N; a++)
      for (let b = a; b < N; b++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += y[a * d + j]! * y[b * d + j]!;
        M[a * N + b] = s;
      }
    return { e: 0, M, own: true };
  }

  /** The all-ones kernel (one shared array: never updated in place). */
  ones(): SMat {
    this.onesM ??= this.mats.zeros(this.N * this.N).fill(1);
    return { e: 0, M: this.onesM };
  }

  // ---------------------------------------------------------------- sources

  addSource(key: string, label: string, C: SMat, T: SMat, comps: number): number {
    const found = this.sourceByKey.get(key);
    if (found !== undefined) return found;
    const id = this.sources.length;
    this.sources.push({ id, label, C, T, comps });
    this.sourceByKey.set(key, id);
    return id;
  }

  useWeight(w: WeightRef, operand: NodeId, at: NodeId) {
    const prev = this.weightUses.get(w.key);
    if (prev !== undefined && prev !== operand)
      throw new Unsupported(at, `the weight ${w.key} is used in two products: a weight matrix reused across layers is outside the supported class (the limit assumes independent matrices)`);
    this.weightUses.set(w.key, operand);
  }

  /** S = Σ_j y_j(a) y_j(b) and TT = Σ_j Θ_{y_j}(a,b) of a hidden vector (summed over its blocks). */
  vecMoments(vec: { blocks: Block[]; node: NodeId }): { S: SMat; TT: SMat } {
    const cached = this.vecCache.get(vec.node);
    if (cached) return cached;
    let S: SMat | null = null, TT: SMat | null = null;
    // two moments (E and T) per pair of terms of each block: the node's progress is split among them
    this.grids = { done: 0, count: vec.blocks.reduce((a, b) => a + b.terms.length * (b.terms.length + 1), 0) };
    try {
      for (const b of vec.blocks) {
        const { E, T } = this.blockMoments(b, vec.node);
        S = smAxpy(S, E, { c: b.kappa, e: 1 }, this.mats);
        TT = smAxpy(TT, T, { c: b.kappa, e: 1 }, this.mats);
      }
    } finally {
      this.grids = null;
    }
    const r = { S: S ?? ZERO, TT: TT ?? ZERO };
    this.vecCache.set(vec.node, r);
    return r;
  }

  /** Per-coordinate second moment E(a,b) and tangent kernel of a block. */
  blockMoments(b: Block, node: NodeId): { E: SMat; T: SMat } {
    let E: SMat | null = null, T: SMat | null = null;
    const terms = b.terms, N = this.N;
    // the caches hold N×N arrays: they live for one block
    this.crossCache.clear();
    this.gridCaches.clear();
    for (const t of terms) {
      if (t.g.size === 0 || !hasJump(t.fn)) continue;
      const at = [0, ...kinkPoints(t.fn)].filter((c) => jumpsAt(t.fn, c));
      this.jumps.push(`${show(t.fn)} jumps at u = ${at.map((c) => Number(c.toPrecision(12))).join(', ')}`);
    }
    for (let i = 0; i < terms.length; i++)
      for (let j = i; j < terms.length; j++) {
        const ti = terms[i]!, tj = terms[j]!;
        const k = scMul(ti.coef, tj.coef);
        // the NNGP's E[φφ] and the NTK's E[φ′φ′] of one pair share its covariance, arcsine and caches
        const Eij = this.pairMoment(ti, tj, node, false, i === j);
        this.gridDone();
        const Tij = this.pairMoment(ti, tj, node, true, i === j);
        this.gridDone();
        E = smAxpy(E, Eij, k, this.mats);
        T = smAxpy(T, Tij, k, this.mats);
        if (i !== j) {
          E = smAxpy(E, Eij, k, this.mats, true);
          T = smAxpy(T, Tij, k, this.mats, true);
        }
      }
    this.crossCache.clear();
    this.gridCaches.clear();
    return { E: E ?? ZERO, T: T ?? ZERO };
  }

  /** Variances of a Gaussian sum at every input, with their common exponent. */
  gaussVar(G: GSum): { v: Float64Array; e: number } {
    const N = this.N, v = new Float64Array(N);
    let e = -Infinity;
    for (const [s, c] of G) {
      const C = this.sources[s]!.C;
      if (!C.M) continue;
      const es = C.e + 2 * c.e;
      if (e === -Infinity) e = es;
      else if (!sameE(e, es)) {
        if (es < e) continue;
        v.fill(0);
        e = es;
      }
      for (let a = 0; a < N; a++) v[a]! += c.c * c.c * C.M[a * N + a]!;
    }
    return { v, e };
  }

  /** Σ_{shared s} c c' X_s(a,b) for X = C or T. */
  gaussCross(G1: GSum, G2: GSum, which: 'C' | 'T'): SMat {
    const key = `${which}|${gKey(G1)}|${gKey(G2)}`;
    const hit = this.crossCache.get(key);
    if (hit) return hit;
    const r = this.gaussCrossUncached(G1, G2, which);
    this.crossCache.set(key, r);
    return r;
  }

  gaussCrossUncached(G1: GSum, G2: GSum, which: 'C' | 'T'): SMat {
    let out: SMat | null = null;
    for (const [s, c1] of G1) {
      const c2 = G2.get(s);
      if (!c2) continue;
      out = smAxpy(out, this.sources[s]![which], scMul(c1, c2), this.mats);
    }
    return out ?? ZERO;
  }

  /**
   * E[φ_i(G_i(a)) φ_j(G_j(b))] (tangent = false) or E[φ_i′ φ_j′]·Θ_{G_i,G_j}(a,b) (true) over all
   * input pairs.
   */
  /** One pair moment of the hidden vector under way is done: the node's progress moves on. */
  gridDone() {
    const gs = this.grids;
    if (gs) this.within(++gs.done / gs.count);
  }

  pairMoment(ti: Term, tj: Term, node: NodeId, tangent: boolean, same: boolean): SMat {
    const fi = tangent ? derivative(ti.fn) : ti.fn, fj = tangent ? derivative(tj.fn) : tj.fn;
    const cross = this.gaussCross(ti.g, tj.g, tangent ? 'T' : 'C');
    if (tangent && !cross.M) return ZERO;
    const constOf = (f: SE) => (f.op === 'const' ? f.v : null);
    const ki = constOf(fi), kj = constOf(fj);
    if (ki === 0 || kj === 0) return ZERO;
    if (tangent) {
      // Θ_{G_i,G_j} ≠ 0 only through shared sources
      const inner = this.expectPair(fi, fj, ti.g, tj.g, node, same);
      return smHadamard(inner, cross, this.mats);
    }
    return this.expectPair(fi, fj, ti.g, tj.g, node, same);
  }

  /** E[f(G1(a)) g(G2(b))] for all pairs, with its exponent of t. */
  expectPair(f: SE, h: SE, G1: GSum, G2: GSum, node: NodeId, symmetric: boolean): SMat {
    const N = this.N;
    const kf = f.op === 'const' ? f.v : null, kh = h.op === 'const' ? h.v : null;
    if (kf !== null && kh !== null) return { e: 0, M: this.mats.zeros(N * N).fill(kf * kh) };
    // affine functions: E[(αG1 + β)(α'G2 + β')] = αα'·Cov + ββ' (exponents carried by Cov)
    const aff = (x: SE) => {
      const t = toTerms(x);
      if (!t || !t.every((a) => a.atom === 'id' || a.atom === 'one')) return null;
      let al = 0, be = 0;
      for (const a of t) (a.atom === 'id' ? (al += a.coef * a.scale) : (be += a.coef));
      return { al, be };
    };
    const af = aff(f), ah = aff(h);
    if (af && ah) {
      let out: SMat = af.be * ah.be !== 0 ? { e: 0, M: this.mats.zeros(N * N).fill(af.be * ah.be) } : ZERO;
      out = smAdd(out, smScale(this.gaussCross(G1, G2, 'C'), { c: af.al * ah.al, e: 0 }, this.mats), this.mats);
      return out;
    }
    const v1 = this.gaussVar(G1), v2 = this.gaussVar(G2);
    for (const [v, fn] of [[v1, f], [v2, h]] as const)
      if (fn.op !== 'const' && !isLinear(fn) && v.e !== -Infinity && !sameE(v.e, 0))
        throw new Unsupported(node, `a nonlinearity ${show(fn)} of a preactivation whose variance scales like m^${fmtE(v.e)}: the limit has no finite nonlinearity (scale the preactivation by 1/sqrt(fan-in))`);
    const cross = this.gaussCross(G1, G2, 'C');
    const F = this.gaussFn(f), H = this.gaussFn(h);
    if (!cross.M) {
      const M = this.mats.zeros(N * N);
      // independent: the product of the 1-D means
      const m1 = kf !== null ? new Float64Array(N).fill(kf) : this.mean(F, v1.v);
      const m2 = kh !== null ? new Float64Array(N).fill(kh) : this.mean(H, v2.v);
      for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) M[a * N + b] = m1[a]! * m2[b]!;
      return { e: 0, M, full: true, own: true };
    }
    if (!sameE(cross.e, 0)) throw new Unsupported(node, 'internal: a covariance with a width exponent between O(1) preactivations');
    if (kf !== null || kh !== null) {
      const mm = kf !== null ? this.mean(H, v2.v) : this.mean(F, v1.v);
      const k = (kf ?? kh)!, M = this.mats.zeros(N * N);
      for (let a = 0; a < N; a++) for (let b = 0; b < N; b++) M[a * N + b] = k * mm[kf !== null ? b : a]!;
      return { e: 0, M, full: true, own: true };
    }
    const gk = `${gKey(G1)}|${gKey(G2)}`;
    let cache = this.gridCaches.get(gk);
    if (!cache) this.gridCaches.set(gk, (cache = new PairGridCache()));
    const r = pairGrid(F, H, v1.v, v2.v, cross.M, {
      tol: this.tol, symmetric, upper: !cross.full, cache, gemm: this.gemm, alloc: this.mats.zeros, quadrature: this.forceQuadrature,
      onProgress: (d, t) => this.within(this.grids ? (this.grids.done + d / t) / this.grids.count : d / t),
    });
    this.noteMethod(`E[${F.name} · ${H.name}]`, r.method, r.order, r.accuracy);
    return { e: 0, M: r.value, full: !symmetric || !!cross.full, own: true };
  }

  mean(F: GaussFn, v: Float64Array): Float64Array {
    if (F.terms && !this.forceQuadrature) {
      const r = pairExpectation(F, ONE, v, new Float64Array(v.length), new Float64Array(v.length).fill(1));
      if (r.method === 'closed') {
        this.noteMethod(`E[${F.name}]`, 'closed', 0, r.accuracy);
        return r.value;
      }
    }
    const r = expect1(F, v, 0, this.tol);
    this.noteMethod(`E[${F.name}]`, 'quadrature', r.order, r.accuracy);
    return r.value;
  }

  /** The Gaussian-expectation view of f (its kinks, wherever they are, are split by the quadrature). */
  gaussFn(f: SE): GaussFn {
    return toGaussFn(f);
  }

  noteMethod(pair: string, method: 'closed' | 'quadrature', order: number, accuracy: number) {
    const prev = this.methods.get(pair);
    this.accuracy = Math.max(this.accuracy, accuracy);
    if (!prev) this.methods.set(pair, { pair, method, order, accuracy });
    else { prev.order = Math.max(prev.order, order); prev.accuracy = Math.max(prev.accuracy, accuracy); }
  }

  // ---------------------------------------------------------------- vec algebra

  /** Normalize: linear terms into one Gaussian sum; terms on the same G merged. */
  normalize(terms: Term[]): Term[] {
    const lin: GSum = new Map();
    const rest: Term[] = [];
    for (const t of terms) {
      if (t.g.size > 0 && t.fn.op === 'var') {
        for (const [s, c] of t.g) {
          const k = scMul(c, t.coef), prev = lin.get(s);
          lin.set(s, !prev ? k : sameE(prev.e, k.e) ? { c: prev.c + k.c, e: k.e } : prev.e > k.e ? prev : k);
        }
        continue;
      }
      const same = rest.find((r) => sameG(r.g, t.g) && sameE(r.coef.e, t.coef.e));
      if (same) {
        same.fn = bin('add', bin('mul', cst(same.coef.c), same.fn), bin('mul', cst(t.coef.c), t.fn));
        same.coef = { c: 1, e: same.coef.e };
      } else rest.push({ ...t });
    }
    if (lin.size > 0) {
      // the linear part joins a nonlinear term on the same Gaussian: relu = ½(u + u·sign u) is one term
      const same = rest.find((r) => sameG(r.g, lin) && sameE(r.coef.e, 0));
      if (same) {
        same.fn = bin('add', VAR, bin('mul', cst(same.coef.c), same.fn));
        same.coef = { c: 1, e: 0 };
      } else rest.unshift({ coef: { c: 1, e: 0 }, fn: VAR, g: lin });
    }
    return rest;
  }

  /** The vec as one function of one Gaussian sum (constants folded in), or null. */
  single(b: Block): Term | null {
    const gs = b.terms.filter((t) => t.g.size > 0);
    if (gs.length > 1) {
      // several terms on the same G with different exponents, or different Gs
      return null;
    }
    const consts = b.terms.filter((t) => t.g.size === 0);
    const main = gs[0];
    if (!main) {
      if (consts.length !== 1) return null;
      return consts[0]!;
    }
    let fn = main.fn;
    let coef = main.coef;
    if (consts.length > 0) {
      if (!consts.every((c) => sameE(c.coef.e, coef.e))) return null;
      fn = bin('mul', cst(coef.c), fn);
      for (const c of consts) fn = bin('add', fn, bin('mul', cst(c.coef.c), c.fn));
      coef = { c: 1, e: coef.e };
    }
    return { coef, fn, g: main.g };
  }

  applyUnary(op: UnaryOp, v: { blocks: Block[] }, node: NodeId): Block[] {
    return v.blocks.map((b) => {
      const s = this.single(b);
      if (!s) throw new Unsupported(node, `${op} of a sum of two hidden vectors (${b.terms.map((t) => show(t.fn)).join(' + ')}): a nonlinearity must act on one preactivation (one matrix product plus biases); a sum of two nonlinear hidden vectors is outside the supported class`);
      if (!sameE(s.coef.e, 0) && s.g.size > 0 && s.fn.op !== 'var')
        throw new Unsupported(node, `${op} of a hidden vector scaled by m^${fmtE(s.coef.e)}: the nonlinearity's argument has no limit`);
      let fn = s.fn, g = s.g;
      if (fn.op === 'var' && !sameE(s.coef.e, 0)) {
        g = new Map([...g].map(([k, c]) => [k, scMul(c, s.coef)]));
      } else fn = bin('mul', cst(s.coef.c), fn);
      return { kappa: b.kappa, terms: [{ coef: { c: 1, e: 0 }, fn: un(op, fn), g }] };
    });
  }

  // ---------------------------------------------------------------- the walk

  fail(node: NodeId, msg: string): never {
    throw new Unsupported(node, msg);
  }

  /**
   * Every node of the roots' cone in topological order; `tick` told the fraction done (0..1).
   * The fraction weighs each node by its likely cost: a weight contracted with a hidden vector
   * (a matmul or a readout sum) takes the Gaussian expectations over all pairs of inputs, the
   * rest is bookkeeping (LIMIT_HEAVY_WEIGHT to 1).
   */
  run(roots: NodeId[], tick?: (fraction: number) => void) {
    const cone = this.g.cone(roots);
    const weight = (n: NodeId) => (this.g.op(n) === 'matmul' || this.g.op(n) === 'sum' ? LIMIT_HEAVY_WEIGHT : 1);
    const total = cone.reduce((a, n) => a + weight(n), 0);
    // the position of each node's last reader: past it, the node's value is dead
    const lastUse = new Map<NodeId, number>();
    cone.forEach((n, i) => { for (const a of this.g.args(n)) lastUse.set(a, i); });
    for (const r of roots) lastUse.set(r, Infinity);
    const live = new Set<NodeId>();
    let before = 0;
    cone.forEach((n, i) => {
      const w = weight(n), from = before;
      if (tick) this.within = (f) => tick((from + w * Math.min(f, 1)) / total);
      this.within(0);
      this.av.set(n, this.visit(n));
      before += w;
      live.add(n);
      for (const a of this.g.args(n)) if (lastUse.get(a) === i) live.delete(a);
      if (this.pool.sinceSweep > 0) this.sweep(live);
    });
  }

  /**
   * Recycle every N × N array no live value can reach. Between nodes the arrays are held only by
   * the sources (C, T) that the Gaussian sums of live values name, the hidden vectors' moments
   * (vecCache) and the all-ones kernel; the per-block caches are empty. Under the tests a freed
   * array is NaN (`F64Pool`), so a holder missing here fails every limit test loudly.
   */
  sweep(live: Iterable<NodeId>): void {
    if (this.crossCache.size > 0 || this.gridCaches.size > 0) return;
    const held: (Float64Array | null)[] = [this.onesM];
    const srcs = new Set<number>();
    const vec = (v: { blocks: Block[]; node: NodeId }) => {
      const m = this.vecCache.get(v.node);
      if (m) held.push(m.S.M, m.TT.M);
      for (const b of v.blocks) for (const t of b.terms) for (const s of t.g.keys()) srcs.add(s);
    };
    for (const n of live) {
      const v = this.av.get(n);
      if (!v) continue;
      if (v.k === 'vec') vec(v);
      else if (v.k === 'prod') vec(v.vec);
      else if (v.k === 'out') for (const c of v.comps) for (const t of c) srcs.add(t.src);
    }
    for (const s of srcs) held.push(this.sources[s]!.C.M, this.sources[s]!.T.M);
    this.pool.sweep(held);
  }

  visit(n: NodeId): AV {
    const g = this.g, op = g.op(n), args = g.args(n), a = g.attrs(n);
    const x = args.map((i) => this.av.get(i)!);
    const kap = this.kappaOf(n);
    const hasWidth = kap.some((k) => k > 0);
    // every unary primitive: its values, derivatives and closed forms come from the registry
    if (isUnary(op)) return this.unary(n, op, x[0]!);
    switch (op) {
      case 'input': {
        const p = this.params.get(n);
        if (!p) {
          if (hasWidth) this.fail(n, `data '${a.name}' has a width axis: data must not depend on the width`);
          return { k: 'det', node: n };
        }
        if (p.init && p.init.dist !== 'fixed' && p.init.mirror)
          this.fail(n, `the parameter ${p.name} has a mirrored (symmetric) initialization: its two halves are not independent, which the limit assumes (drop mirror)`);
        const s2 = this.paramScale.get(n);
        if (!s2) this.fail(n, `the parameter ${p.name} has fixed initial values (load or a number): the limit needs i.i.d. random entries, e.g. '~ normal(0, 1)'`);
        if (Number.isNaN(s2.c)) this.fail(n, `the weights ${p.name} are not centred: the limit needs mean-zero entries (normal(0, σ) or uniform(−a, a))`);
        return { k: 'weight', w: { key: p.name, param: p, sigma2: s2, coef: { c: 1, e: 0 }, node: n } };
      }
      case 'const':
        return { k: 'scalar', ...this.probes.constScale(n) };
      case 'literal': {
        const d = this.probes.models.map((m) => m.graph.attrs(n).key);
        if (d[0] !== d[1] || d[1] !== d[2]) this.fail(n, 'an array constant that depends on the width');
        return { k: 'det', node: n };
      }
      case 'add': case 'sub': case 'mul': case 'div': case 'pow':
        return this.binary(n, op, x[0]!, x[1]!);
      case 'matmul':
        return this.matmul(n, x[0]!, x[1]!);
      case 'sum':
        return this.sum(n, x[0]!);
      case 'reshape': case 'transpose': case 'broadcast': case 'slice': case 'pad': case 'concat':
        return this.structural(n, x);
      default:
        return unreachable(op);
    }
  }

  isDet(v: AV) { return v.k === 'det' || v.k === 'scalar'; }

  unary(n: NodeId, op: UnaryOp, v: AV): AV {
    switch (v.k) {
      case 'det': return { k: 'det', node: n };
      case 'scalar': {
        if (v.e !== 0) this.fail(n, `${op} of a constant that scales with the width`);
        const f = un(op, cst(v.c));
        return { k: 'scalar', c: f.op === 'const' ? f.v : NaN, e: 0 };
      }
      case 'weight': return this.unary(n, op, this.weightAsVec(v.w, n));
      case 'vec':
        if (op === 'neg') return { ...(this.scale(n, v, { c: -1, e: 0 }) as AV & { k: 'vec' }), node: n };
        return { k: 'vec', node: n, blocks: this.applyUnary(op, v, n) };
      case 'out':
        if (op === 'neg') return { k: 'out', comps: v.comps.map((c) => c.map((t) => ({ ...t, c: { c: -t.c.c, e: t.c.e } }))) };
        return this.fail(n, `${op} of the network's output: the limit of a nonlinear function of the Gaussian output is not a Gaussian process`);
      case 'prod': return this.fail(n, 'an elementwise function of a weight times a hidden vector');
    }
  }

  /** A weight vector used as a hidden vector: the bias source (σ²·1, Θ = 1). */
  weightAsVec(w: WeightRef, n: NodeId): AV & { k: 'vec' } {
    const kap = this.kappaOf(w.node).filter((k) => k > 0);
    const shape = this.g.shape(w.node).filter((d) => d > 1);
    if (kap.length !== 1 || shape.length !== 1)
      this.fail(n, `the weight ${w.key} is used elementwise: only a vector along the width (a bias) can be`);
    this.useWeight(w, -1, n);
    const src = this.addSource(`bias:${w.key}`, w.key, smScale(this.ones(), w.sigma2, this.mats), this.ones(), 1);
    this.recordSource(src, `${w.key} (bias)`, `σ²=${fmtSc(w.sigma2)}`, '1', { def: texName(w.key), sigma2: w.sigma2, from: { kind: 'bias' } });
    return { k: 'vec', node: n, blocks: [{ kappa: kap[0]!, terms: [{ coef: w.coef, fn: VAR, g: new Map([[src, { c: 1, e: 0 }]]) }] }] };
  }

  asVec(v: AV, n: NodeId): (AV & { k: 'vec' }) | null {
    if (v.k === 'vec') return v;
    if (v.k === 'weight') return this.weightAsVec(v.w, n);
    return null;
  }

  binary(n: NodeId, op: 'add' | 'sub' | 'mul' | 'div' | 'pow', A: AV, B: AV): AV {
    const g = this.g;
    if (this.isDet(A) && this.isDet(B)) {
      if (A.k === 'scalar' && B.k === 'scalar') {
        const c = op === 'mul' ? { c: A.c * B.c, e: A.e + B.e } : op === 'div' ? { c: A.c / B.c, e: A.e - B.e } : null;
        if (c) return { k: 'scalar', ...c };
        if (A.e === 0 && B.e === 0) return { k: 'scalar', c: op === 'add' ? A.c + B.c : op === 'sub' ? A.c - B.c : A.c ** B.c, e: 0 };
        this.fail(n, 'a sum or power of width-dependent constants');
      }
      if ((A.k === 'scalar' && A.e !== 0) || (B.k === 'scalar' && B.e !== 0)) this.fail(n, 'data scaled by a width-dependent constant');
      return { k: 'det', node: n };
    }
    // scalings by constants
    const sc = (v: AV) => (v.k === 'scalar' ? { c: v.c, e: v.e } : null);
    if (op === 'mul' || op === 'div') {
      const [other, s] = sc(B) ? [A, sc(B)!] : op === 'mul' && sc(A) ? [B, sc(A)!] : [null, null];
      if (other && s) {
        const k = op === 'div' ? { c: 1 / s.c, e: -s.e } : s;
        return this.scale(n, other, k);
      }
    }
    if (op === 'add' || op === 'sub') {
      const sign = op === 'sub' ? -1 : 1;
      // out ± out, out ± output bias
      if (A.k === 'out' || B.k === 'out') {
        const oa = this.asOut(A, n), ob = this.asOut(B, n);
        return this.addOut(n, oa, this.scale(n, ob, { c: sign, e: 0 }) as AV & { k: 'out' });
      }
      const va = this.asVec(A, n) ?? this.constVec(A, n), vb = this.asVec(B, n) ?? this.constVec(B, n);
      if (va.blocks.length !== vb.blocks.length || va.blocks.some((b, i) => b.kappa !== vb.blocks[i]!.kappa))
        this.fail(n, 'a sum of hidden vectors with different concatenation structure');
      return {
        k: 'vec', node: n,
        blocks: va.blocks.map((b, i) => ({
          kappa: b.kappa,
          terms: this.normalize([...b.terms, ...vb.blocks[i]!.terms.map((t) => ({ ...t, coef: { c: sign * t.coef.c, e: t.coef.e } }))]),
        })),
      };
    }
    if (op === 'mul') {
      if ((A.k === 'weight' && B.k === 'vec') || (B.k === 'weight' && A.k === 'vec')) {
        const [w, v] = A.k === 'weight' ? [A.w, B as AV & { k: 'vec' }] : [(B as AV & { k: 'weight' }).w, A as AV & { k: 'vec' }];
        return { k: 'prod', w, vec: v };
      }
      const va = this.asVec(A, n), vb = this.asVec(B, n);
      if (va && vb) {
        return {
          k: 'vec', node: n,
          blocks: va.blocks.map((b, i) => {
            const s1 = this.single(b), s2 = this.single(vb.blocks[i]!);
            if (!s1 || !s2 || (s1.g.size > 0 && s2.g.size > 0 && !sameG(s1.g, s2.g)))
              this.fail(n, 'a product of two hidden vectors that are functions of different preactivations: outside the supported class (a ≥ 3-dimensional Gaussian expectation)');
            return { kappa: b.kappa, terms: [{ coef: scMul(s1.coef, s2.coef), fn: bin('mul', s1.fn, s2.fn), g: s1.g.size > 0 ? s1.g : s2.g }] };
          }),
        };
      }
    }
    if (op === 'pow') {
      const va = this.asVec(A, n);
      if (va && B.k === 'scalar' && B.e === 0)
        return {
          k: 'vec', node: n,
          blocks: va.blocks.map((b) => {
            const s = this.single(b);
            if (!s) this.fail(n, 'a power of a sum of two hidden vectors');
            if (!sameE(s.coef.e, 0)) this.fail(n, 'a power of a width-scaled hidden vector');
            return { kappa: b.kappa, terms: [{ coef: { c: 1, e: 0 }, fn: bin('pow', bin('mul', cst(s.coef.c), s.fn), cst(B.c)), g: s.g }] };
          }),
        };
    }
    return this.fail(n, `${op} of ${describe(A)} and ${describe(B)} is outside the supported class`);
  }

  constVec(v: AV, n: NodeId): AV & { k: 'vec' } {
    if (v.k === 'scalar') {
      const kap = this.kappaOf(n).filter((k) => k > 0);
      return { k: 'vec', node: n, blocks: [{ kappa: kap[0] ?? 1, terms: [{ coef: { c: v.c, e: v.e }, fn: cst(1), g: new Map() }] }] };
    }
    return this.fail(n, `${describe(v)} added to a hidden vector (only constants and biases can be)`);
  }

  scale(n: NodeId, v: AV, k: Sc): AV {
    switch (v.k) {
      case 'vec':
        // a linear term keeps coefficient 1: the scaling goes into its Gaussian sum, so that x and
        // a function of x (relu's x·sign(x)) keep recognizably the same Gaussian
        return {
          k: 'vec', node: n,
          blocks: v.blocks.map((b) => ({
            kappa: b.kappa,
            terms: b.terms.map((t) => (t.fn.op === 'var' && t.g.size > 0
              ? { ...t, g: new Map([...t.g].map(([s, c]) => [s, scMul(c, scMul(t.coef, k))])), coef: { c: 1, e: 0 } }
              : { ...t, coef: scMul(t.coef, k) })),
          })),
        };
      case 'weight': return { k: 'weight', w: { ...v.w, coef: scMul(v.w.coef, k) } };
      case 'out': return { k: 'out', comps: v.comps.map((c) => c.map((t) => ({ ...t, c: scMul(t.c, k) }))) };
      case 'prod': return { k: 'prod', w: { ...v.w, coef: scMul(v.w.coef, k) }, vec: v.vec };
      default: return this.fail(n, `a scaling of ${describe(v)}`);
    }
  }

  asOut(v: AV, n: NodeId): AV & { k: 'out' } {
    if (v.k === 'out') return v;
    if (v.k === 'weight') {
      // an output bias: a finite parameter
      if (this.kappaOf(v.w.node).some((k) => k > 0)) this.fail(n, `the width vector ${v.w.key} added to the output`);
      this.useWeight(v.w, -2, n);
      const size = this.g.sizeOf(v.w.node);
      const src = this.addSource(`obias:${v.w.key}`, v.w.key, smScale(this.ones(), v.w.sigma2, this.mats), this.ones(), size);
      this.recordSource(src, `${v.w.key} (output bias)`, `σ²=${fmtSc(v.w.sigma2)}`, '1', { def: texName(v.w.key), sigma2: v.w.sigma2, from: { kind: 'bias' } });
      return { k: 'out', comps: Array.from({ length: size }, (_, j) => [{ src, j, c: v.w.coef }]) };
    }
    if (v.k === 'scalar' && v.c === 0) return { k: 'out', comps: [[]] };
    return this.fail(n, `${describe(v)} added to the output: a deterministic offset (the limit's kernels describe a centred Gaussian process)`);
  }

  addOut(n: NodeId, A: AV & { k: 'out' }, B: AV & { k: 'out' }): AV {
    const size = this.g.sizeOf(n);
    const bc = (o: OutTerm[][]) => (o.length === size ? o : o.length === 1 ? Array.from({ length: size }, () => o[0]!) : this.fail(n, 'outputs of different sizes added'));
    const a = bc(A.comps), b = bc(B.comps);
    return { k: 'out', comps: a.map((c, i) => [...c, ...b[i]!]) };
  }

  /** matmul(A, B): a weight times data (a source, or an output source), or a readout. */
  matmul(n: NodeId, A: AV, B: AV): AV {
    const g = this.g;
    if (this.isDet(A) && this.isDet(B)) {
      if ((A.k === 'scalar' && A.e !== 0) || (B.k === 'scalar' && B.e !== 0)) this.fail(n, 'a product of width-dependent constants');
      return { k: 'det', node: n };
    }
    const [wv, other, wLeft] = A.k === 'weight' ? [A, B, true] : B.k === 'weight' ? [B, A, false] : [null, null, false];
    if (!wv || wv.k !== 'weight') return this.fail(n, `a matrix product of ${describe(A)} and ${describe(B)} (one side must be a weight and the other data or a hidden vector)`);
    const args = g.args(n);
    const wNode = args[wLeft ? 0 : 1]!, yNode = args[wLeft ? 1 : 0]!;
    const ws = g.shape(wNode), ys = g.shape(yNode);
    const wk = this.kappaOf(wNode);
    // the contracted axis of W and its free axis; y must be a single column (row)
    const contracted = wLeft ? ws.length - 1 : ws.length - 2;
    const free = wLeft ? ws.length - 2 : ws.length - 1;
    if (ws.slice(0, -2).some((d) => d !== 1)) this.fail(n, `a batched product with the weight ${wv.w.key}`);
    const yFree = wLeft ? ys[ys.length - 1] : ys[ys.length - 2];
    if (yFree !== 1 || ys.slice(0, -2).some((d) => d !== 1)) this.fail(n, `the weight ${wv.w.key} multiplies a matrix, not a vector (inputs are rows: a function of one row)`);
    this.useWeight(wv.w, yNode, n);
    const w = wv.w;
    let C: SMat, T: SMat, desc: string, tdesc: string;
    if (other.k === 'det' || other.k === 'scalar') {
      if (wk[contracted]! > 0) this.fail(n, `the weight ${w.key} contracts a width axis with data`);
      if (other.k === 'scalar') this.fail(n, `the weight ${w.key} times a constant`);
      const G = this.gram(yNode);
      C = smScale(G, w.sigma2, this.mats);
      T = G;
      desc = `σ²·⟨x(a), x(b)⟩`;
      tdesc = `⟨x(a), x(b)⟩`;
      if (w.param.init && w.param.init.dist !== 'normal')
        this.fail(n, `the weight ${w.key} is uniform and multiplies a finite-dimensional input: its products are not Gaussian (use normal(0, σ))`);
    } else if (other.k === 'vec') {
      if (!(wk[contracted]! > 0)) this.fail(n, `the weight ${w.key} contracts a finite axis with a hidden vector`);
      const { S, TT } = this.vecMoments(other);
      C = smScale(S, w.sigma2, this.mats);
      T = smAxpy(smAxpy(null, S, { c: 1, e: 0 }, this.mats), TT, w.sigma2, this.mats);
      const yn = this.vecName(other);
      desc = `σ²·Σ_j ${yn}_j(a)${yn}_j(b)`;
      tdesc = `Σ_j ${yn}_j(a)${yn}_j(b) + σ²·Σ_j Θ[${yn}_j](a,b)`;
    } else return this.fail(n, `the weight ${w.key} multiplies ${describe(other)}`);
    const outK = wk[free]!;
    if (outK > 0) {
      const src = this.addSource(`mm:${w.key}`, `${w.key}·${this.nameOf(other, yNode)}`, C, T, 1);
      this.recordSource(src, `${w.key}·${this.nameOf(other, yNode)}`, `σ²=${fmtSc(w.sigma2)}: Σ = ${desc}`, tdesc, this.sourceTex(w, other, yNode));
      return { k: 'vec', node: n, blocks: [{ kappa: outK, terms: [{ coef: { c: 1, e: 0 }, fn: VAR, g: new Map([[src, w.coef]]) }] }] };
    }
    const k = ws[free]!;
    const src = this.addSource(`mm:${w.key}`, `${w.key}·${this.nameOf(other, yNode)}`, C, T, k);
    this.recordSource(src, `${w.key}·${this.nameOf(other, yNode)} (readout, ${k} output${k > 1 ? 's' : ''})`, `σ²=${fmtSc(w.sigma2)}: 𝒦 = ${desc}`, tdesc, this.sourceTex(w, other, yNode, k));
    return { k: 'out', comps: Array.from({ length: k }, (_, j) => [{ src, j, c: w.coef }]) };
  }

  sum(n: NodeId, v: AV): AV {
    const g = this.g, arg = g.args(n)[0]!, axes = g.attrs(n).axes!;
    const kap = this.kappaOf(arg);
    const overWidth = axes.some((ax) => kap[ax]! > 0);
    switch (v.k) {
      case 'det': case 'scalar':
        if (overWidth) this.fail(n, 'a sum of a constant over the width');
        return v.k === 'det' ? { k: 'det', node: n } : this.fail(n, 'a sum of a constant');
      case 'prod': {
        if (!overWidth) this.fail(n, 'a weight times a hidden vector, not summed over the width');
        this.useWeight(v.w, v.vec.node, n);
        const { S, TT } = this.vecMoments(v.vec);
        const C = smScale(S, v.w.sigma2, this.mats), T = smAxpy(smAxpy(null, S, { c: 1, e: 0 }, this.mats), TT, v.w.sigma2, this.mats);
        const yn = this.vecName(v.vec);
        const src = this.addSource(`mm:${v.w.key}`, `⟨${v.w.key}, ${yn}⟩`, C, T, 1);
        this.recordSource(src, `⟨${v.w.key}, ${yn}⟩ (readout)`, `σ²=${fmtSc(v.w.sigma2)}: 𝒦 = σ²·Σ_j ${yn}_j(a)${yn}_j(b)`, `Σ_j ${yn}_j(a)${yn}_j(b) + σ²·Σ_j Θ[${yn}_j](a,b)`,
          { def: `\\langle ${texName(v.w.key)}, ${vecTex(yn)} \\rangle`, sigma2: v.w.sigma2, from: { kind: 'vec', y: vecTex(yn), readout: 1 } });
        return { k: 'out', comps: [[{ src, j: 0, c: v.w.coef }]] };
      }
      case 'vec':
        if (overWidth) this.fail(n, 'a sum of a hidden vector over the width without a weight: deterministic in the limit (a law of large numbers), outside the Gaussian-process class');
        return { ...v, node: n };
      case 'weight':
        return this.fail(n, `a sum of the weight ${v.w.key}`);
      case 'out': {
        // sum over output components
        const ins = g.shape(arg), out = g.shape(n);
        const comps: OutTerm[][] = Array.from({ length: sizeOf(out) }, () => []);
        forEachIndex(ins, (idx, flat) => {
          const o = flatIndex(idx.filter((_, i) => !axes.includes(i)), out);
          comps[o]!.push(...v.comps[flat]!);
        });
        return { k: 'out', comps };
      }
    }
  }

  structural(n: NodeId, xs: AV[]): AV {
    const g = this.g, op = g.op(n), a = g.attrs(n), args = g.args(n);
    if (xs.every((v) => this.isDet(v))) {
      if (xs.length === 1 && xs[0]!.k === 'scalar' && (op === 'reshape' || op === 'broadcast' || op === 'transpose')) return xs[0]!;
      return { k: 'det', node: n };
    }
    const kIn = args.map((i) => this.kappaOf(i)), kOut = this.kappaOf(n);
    if (op === 'concat') {
      const axis = a.axis!;
      if (kOut[axis]! > 0) {
        // concatenation along the width: blocks
        const blocks: Block[] = [];
        xs.forEach((v, i) => {
          const vv = this.asVec(v, n) ?? this.fail(n, `a concatenation of ${describe(v)} with hidden vectors`);
          if (!(kIn[i]![axis]! > 0)) this.fail(n, 'a concatenation of a finite vector with a width vector');
          blocks.push(...vv.blocks);
        });
        return { k: 'vec', node: n, blocks };
      }
    }
    if (xs.length === 1) {
      const v = xs[0]!;
      if (v.k === 'vec' || v.k === 'weight' || v.k === 'prod') {
        const sIn = g.shape(args[0]!), sOut = g.shape(n);
        const bigIn = sIn.filter((d) => d > 1), bigOut = sOut.filter((d) => d > 1);
        const keeps = bigIn.length === bigOut.length && bigIn.every((d, i) => d === bigOut[i]);
        if (v.k === 'weight') {
          if (op === 'slice') {
            // a slice of a stacked weight is its own matrix
            const key = `${v.w.key}[${a.starts!.map((s, i) => (a.ends![i]! - s === sIn[i] ? ':' : a.ends![i]! - s === 1 ? String(s) : `${s}:${a.ends![i]}`)).join(',')}]`;
            if (kIn[0]!.some((k, i) => k > 0 && (a.starts![i] !== 0 || a.ends![i] !== sIn[i])))
              this.fail(n, `a slice of the weight ${v.w.key} along the width`);
            return { k: 'weight', w: { ...v.w, key, node: n } };
          }
          if (op === 'reshape' && keeps) return { k: 'weight', w: { ...v.w, node: n } };
          if (op === 'transpose') return { k: 'weight', w: { ...v.w, node: n } };
          if (op === 'broadcast' && keeps) return { k: 'weight', w: { ...v.w, node: n } };
          return this.fail(n, `${op} of the weight ${v.w.key}`);
        }
        if ((op === 'reshape' || op === 'transpose' || op === 'broadcast') && keeps) {
          if (v.k === 'vec') return { ...v, node: n };
          return v;
        }
        return this.fail(n, `${op} of ${describe(v)} (only size-1 axes may change)`);
      }
      if (v.k === 'out') return { k: 'out', comps: mapComps(g, n, [v.comps]) };
    }
    if (op === 'concat' && xs.every((v) => v.k === 'out'))
      return { k: 'out', comps: mapComps(g, n, xs.map((v) => (v as AV & { k: 'out' }).comps)) };
    return this.fail(n, `${op} of ${xs.map(describe).join(', ')}`);
  }

  // ---------------------------------------------------------------- recursion text

  vecName(v: { node: NodeId }): string {
    let s = this.vecNames.get(v.node);
    if (!s) {
      s = `x${this.vecNames.size + 1}`;
      this.vecNames.set(v.node, s);
      const vv = this.av.get(v.node) as (AV & { k: 'vec' }) | undefined;
      if (vv) {
        const body = vv.blocks.map((b) => b.terms.map((t) => `${t.coef.c === 1 && t.coef.e === 0 ? '' : fmtSc(t.coef) + '·'}${showTerm(t, this)}`).join(' + ')).join(' ⊕ ');
        this.recursion.push(`${s} = ${body}`);
        const tex = vv.blocks.map((b) => b.terms.map((t) => (t.coef.c === 1 && t.coef.e === 0 ? termTex(t, false) : `${texSc(t.coef)}\\,${termTex(t, true)}`)).join(' + ')).join(' \\oplus ');
        this.latex.push(`${vecTex(s)} &= ${tex}`);
      }
    }
    return s;
  }

  /** The LaTeX description of a source W·y. */
  sourceTex(w: WeightRef, y: AV, yNode: NodeId, readout?: number) {
    const yn = this.nameOf(y, yNode), yt = y.k === 'vec' ? vecTex(yn) : 'x';
    return { def: `${texName(w.key)}\\, ${y.k === 'vec' ? yt : texName(yn)}`, sigma2: w.sigma2, from: { kind: y.k === 'vec' ? 'vec' as const : 'data' as const, y: yt, ...(readout !== undefined ? { readout } : {}) } };
  }

  nameOf(v: AV, node: NodeId): string {
    if (v.k === 'vec') return this.vecName(v);
    const d = this.probes.models[0]!.data.find((x) => x.node === node);
    return d ? d.name : 'x';
  }

  /**
   * One source's lines: text, and LaTeX (`tex`: its definition, the weight's variance, and the
   * kind of source: a bias, data, a hidden vector y, a readout of k outputs).
   */
  recordSource(src: number, label: string, cov: string, tan: string, tex: { def: string; sigma2: Sc; from: { kind: 'bias' } | { kind: 'data' | 'vec'; y: string; readout?: number } }) {
    const line = `g${src + 1} = ${label}: ${cov}; Θ = ${tan}`;
    if (this.recursion.includes(line)) return;
    this.recursion.push(line);
    const g = `g_{${src + 1}}`, f = tex.from;
    const [K, T] = f.kind !== 'bias' && f.readout !== undefined ? ['\\mathcal{K}', '\\Theta'] : [`\\Sigma_{${src + 1}}`, `\\Theta_{${src + 1}}`];
    let k: string, t: string;
    if (f.kind === 'bias') { k = '\\sigma^2'; t = '1'; }
    else if (f.kind === 'data') { k = '\\sigma^2 \\langle x(a), x(b) \\rangle'; t = '\\langle x(a), x(b) \\rangle'; }
    else {
      const y = f.y, yy = `\\textstyle\\sum_j ${y.replace(/\}$/, ',j}')}(a)\\,${y.replace(/\}$/, ',j}')}(b)`;
      k = `\\sigma^2 ${yy}`;
      t = `${yy} + \\sigma^2 \\textstyle\\sum_j \\Theta_{${y.replace(/\}$/, ',j}')}}(a,b)`;
    }
    const what = f.kind === 'bias' ? '\\quad\\text{(bias)}' : f.readout !== undefined ? `\\quad\\text{(readout, ${f.readout} output${f.readout > 1 ? 's' : ''})}` : '';
    this.latex.push(`${g} &= ${tex.def}${what}:\\quad ${K}(a,b) = ${k},\\quad ${T}(a,b) = ${t},\\quad \\sigma^2 = ${texSc(tex.sigma2)}`);
  }
}

function showTerm(t: Term, d: Deriver): string {
  const G = [...t.g].map(([s, c]) => `${c.c === 1 && c.e === 0 ? '' : fmtSc(c) + '·'}g${s + 1}`).join(' + ');
  return G ? show(t.fn, `[${G}]`) : show(t.fn);
  void d;
}

/** LaTeX of a term: φ with its Gaussian sum substituted for u (parenthesized after a coefficient). */
function termTex(t: Term, afterCoef: boolean): string {
  const parts = [...t.g].map(([s, c]) => (c.c === 1 && c.e === 0 ? '' : texSc(c) + '\\,') + `g_{${s + 1}}`);
  const prec = parts.length > 1 ? TEX_ADD : parts[0]?.includes('\\,') ? TEX_MUL : TEX_ATOM;
  return showTex(t.fn, parts.join(' + ') || 'u', prec, afterCoef ? TEX_MUL : 0);
}
/** LaTeX of a name: W1 → W_{1}, x → x, anything else upright. */
function texName(name: string): string {
  const m = /^([A-Za-z]+)(\d+)$/.exec(name);
  if (m) return `${m[1]}_{${m[2]}}`;
  if (/^[A-Za-z]$/.test(name)) return name;
  return `\\mathrm{${name.replace(/[_#$%&{}]/g, (c) => `\\${c}`)}}`;
}
const vecTex = (name: string) => texName(name);
/** c·m^e in LaTeX, half-integer exponents as fractions. */
function texSc(s: Sc): string {
  const c = Number(s.c.toPrecision(6));
  if (s.e === 0) return String(c);
  const e = Number.isInteger(s.e) ? String(s.e) : Number.isInteger(2 * s.e) ? `${s.e < 0 ? '-' : ''}${Math.abs(2 * s.e)}/2` : fmtE(s.e);
  return `${c === 1 ? '' : `${c}\\,`}m^{${e}}`;
}

const fmtE = (e: number) => (Number.isInteger(e) ? String(e) : e.toFixed(2).replace(/0+$/, ''));
const fmtSc = (s: Sc) => `${Number(s.c.toPrecision(6))}${s.e === 0 ? '' : `·m^${fmtE(s.e)}`}`;
/** A Gaussian sum as a cache key. */
const gKey = (g: GSum) => [...g].map(([s, c]) => `${s}:${c.c}:${c.e}`).join(',');

/** C = A·B on the default backend (OpenBLAS where built): the Mehler coefficients' product. */
function backendGemm(): Gemm {
  const be = defaultBackend();
  return (A, B, m, k, n) => {
    const C = new Float64Array(m * n);
    be.matmul(A, [m, k], B, [k, n], C, [m, n]);
    return C;
  };
}

const sameG = (a: GSum, b: GSum) => a.size === b.size && [...a].every(([k, c]) => { const d = b.get(k); return !!d && d.c === c.c && sameE(d.e, c.e); });

function describe(v: AV): string {
  switch (v.k) {
    case 'det': return 'data';
    case 'scalar': return 'a constant';
    case 'weight': return `the weight ${v.w.key}`;
    case 'vec': return 'a hidden vector';
    case 'prod': return `the weight ${v.w.key} times a hidden vector`;
    case 'out': return 'the output';
  }
}

function forEachIndex(shape: number[], f: (idx: number[], flat: number) => void) {
  const total = sizeOf(shape), idx = new Array(shape.length).fill(0);
  for (let flat = 0; flat < total; flat++) {
    f(idx, flat);
    for (let ax = shape.length - 1; ax >= 0; ax--) {
      if (++idx[ax] < shape[ax]!) break;
      idx[ax] = 0;
    }
  }
}
function flatIndex(idx: number[], shape: number[]): number {
  let f = 0;
  for (let i = 0; i < shape.length; i++) f = f * shape[i]! + (idx[i] ?? 0);
  return f;
}

/** Output components through a structural op (reshape, transpose, broadcast, slice, pad, concat). */
function mapComps(g: Graph, n: NodeId, ins: OutTerm[][][]): OutTerm[][] {
  const op = g.op(n), a = g.attrs(n), args = g.args(n), out = g.shape(n);
  const comps: OutTerm[][] = Array.from({ length: sizeOf(out) }, () => []);
  const sIn = args.map((x) => g.shape(x));
  forEachIndex(out, (idx, flat) => {
    switch (op) {
      case 'reshape': comps[flat] = ins[0]![flat]!; break;
      case 'transpose': {
        const src = new Array(idx.length);
        a.perm!.forEach((p, i) => (src[p] = idx[i]));
        comps[flat] = ins[0]![flatIndex(src, sIn[0]!)]!;
        break;
      }
      case 'broadcast': {
        const s = sIn[0]!, off = out.length - s.length;
        comps[flat] = ins[0]![flatIndex(s.map((d, i) => (d === 1 ? 0 : idx[i + off]!)), s)]!;
        break;
      }
      case 'slice': comps[flat] = ins[0]![flatIndex(idx.map((v, i) => v + a.starts![i]!), sIn[0]!)]!; break;
      case 'pad': {
        const src = idx.map((v, i) => v - a.starts![i]!);
        comps[flat] = src.every((v, i) => v >= 0 && v < sIn[0]![i]!) ? ins[0]![flatIndex(src, sIn[0]!)]! : [];
        break;
      }
      case 'concat': {
        let v = idx[a.axis!]!, k = 0;
        while (v >= sIn[k]![a.axis!]!) v -= sIn[k++]![a.axis!]!;
        const src = idx.slice();
        src[a.axis!] = v;
        comps[flat] = ins[k]![flatIndex(src, sIn[k]!)]!;
        break;
      }
      default:
        throw new Error(`internal: mapComps through '${op}', not a structural op that moves elements`);
    }
  });
  return comps;
}

// ------------------------------------------------------------------ entry point

/**
 * The NNGP and NTK limits of a model as its width dims go to infinity (see the module comment).
 * @example
 *   const r = limitKernels(loadModel('examples/limit-mlp.ntk'), { width: ['m'] });
 *   r.nngp![0]![0];  // 𝒦(x1, x1)
 */
export function limitKernels(model: Model, opts: LimitOptions): LimitReport {
  return nestedLimit(limitKernelsDense(model, opts));
}

/**
 * The report keys of the limit's kernels, in the order they are written (`--out`).
 * @example LIMIT_KERNEL_KEYS[1] // 'ntk'
 */
export const LIMIT_KERNEL_KEYS = ['nngp', 'ntk', 'nngpCross', 'ntkCross', 'nngpTest', 'ntkTest'] as const;

/**
 * The report with its kernels as arrays of rows (`LimitReport`, the JSON's shape).
 * @example nestedLimit(limitKernelsDense(model, { width: ['m'] })).ntk![0]![1] // Θ(x1, x2)
 */
export function nestedLimit(r: LimitDense): LimitReport {
  const out = { ...r } as unknown as LimitReport;
  for (const key of LIMIT_KERNEL_KEYS) {
    const K = r[key];
    if (K === undefined) continue;
    out[key] = K && Array.from({ length: K.rows }, (_, i) => toNumbers(K.data, i * K.cols, K.cols));
  }
  return out;
}

/**
 * `limitKernels` with the kernels as computed: one Float64Array each (`DenseMatrix`), for
 * writing them (`--out`) or computing with them without a copy per row.
 * @example
 *   const r = limitKernelsDense(loadModel('examples/limit-mlp.ntk'), { width: ['m'] });
 *   r.ntk!.data[0];  // Θ(x1, x1); entry (a, b) at a·cols + b
 */
export function limitKernelsDense(model: Model, opts: LimitOptions): LimitDense {
  // data must be finite: a NaN would run through every kernel (never a NaN kernel: an error here)
  const used = new Set(model.graph.cone(model.test ? [model.output, model.test.output] : [model.output]));
  for (const d of model.data) {
    if (!used.has(d.node)) continue;
    const bad = d.value.findIndex((x) => !Number.isFinite(x));
    if (bad >= 0) throw new NtkError([{ severity: 'error', file: model.file, span: d.span, message: `the data '${d.name}' holds ${d.value[bad]} at entry ${bad}: the limit kernels need finite data` }]);
  }
  const probes = probe(model, opts);
  // The same restriction to one row on every probe graph: the nodes it appends align too.
  const preps = probes.models.map((m) => prepare(m));
  if (!aligned(probes.models)) throw new Error('internal: the probe graphs diverged while restricting rows');
  const pm = probes.models[0]!, prep = preps[0]!;
  const progress = new Thousandths(opts.onProgress);
  try {
    const bytes = limitWorkingSet(probes, prep, opts);
    if (opts.checkWorkingSet) opts.checkWorkingSet(bytes);
    else ensureMemory(bytes, `the infinite-width derivation on ${prep.inputs.N} inputs`, 'take fewer inputs, or raise --max-memory');
    progress.start();
    // with testDiag, chunk c of `chunks` covers [c, c + 1)/chunks of the progress
    const derive = (inputs: Inputs, c = 0, chunks = 1) =>
      assemble(runDeriver(probes, prep, inputs, opts, progress.on ? (f) => progress.at((c + f) / chunks) : undefined), opts, inputs, prep.k, prep.trainOut, prep.testOut);
    const r = !opts.testDiag || prep.testOut === null ? derive(prep.inputs) : diagonalChunks(pm, prep.inputs, opts.testChunk, derive);
    progress.end();
    return r;
  } catch (e) {
    if (e instanceof Unsupported) throw located(pm, e, prep.trace);
    throw e;
  }
}

/**
 * Extra N² units of one pair grid done by quadrature, besides its result: the pairs' indices (a
 * JS array), their three covariances and their values (gaussian.ts pairGrid, degeneratePairs),
 * each one value per pair — N² pairs at most.
 */
const QUADRATURE_UNITS = 5;

/**
 * The peak bytes `limitKernelsDense` holds besides its report's kernels (the blocks it assembles,
 * which the result's check counts): the derivation's N×N arrays. Every N×N array comes from the Deriver's pool,
 * which keeps what it allocated and recycles what no live value reaches (`Deriver.sweep`), so the
 * arrays it allocates fresh are the most it holds at once. How many depends on the graph (its
 * sources, hidden vectors, pair grids and sums), not on N: a dry derivation on a few inputs (at
 * most 3 training and 2 test rows) counts them (`pool.fresh`). The estimate is that count times
 * N²·8 bytes at the real N (the chunk's n + chunk with `testDiag`), plus one quadrature grid's
 * buffers when a pair needed quadrature. Measured against peak RSS in
 * test/io/working-set.test.ts.
 * @example limitWorkingSet(probes, prepare(pm), { width: ['m'] }) // ≈ 8 N×N arrays for a depth-3 relu network
 */
function limitWorkingSet(probes: Probes, prep: Prepared, opts: LimitOptions): number {
  const { N, nTrain: n, rows } = prep.inputs, nt = N - n;
  const chunk = Math.min(nt, Math.max(1, Math.floor(opts.testChunk ?? Math.max(n, 64))));
  const chunkN = opts.testDiag && nt > 0 ? n + chunk : N;
  const a = Math.min(n, 3), b = Math.min(nt, 2), dryN = a + b;
  if (dryN >= N) return 8 * N * N * 64; // a handful of inputs: the arrays are tiny, no dry run
  const g = probes.models[0]!.graph;
  const dry: Inputs = {
    N: dryN, nTrain: a,
    rows: rows.map((r) => {
      const size = r.values.length / N, values = new Float64Array(dryN * size);
      values.set(r.values.subarray(0, a * size), 0);
      values.set(r.values.subarray(n * size, (n + b) * size), a * size);
      return { standIn: r.standIn, batched: g.fresh('data', [dryN, ...g.shape(r.batched).slice(1)], 'dry_rows'), values };
    }),
  };
  const d = runDeriver(probes, prep, dry, opts);
  const quadrature = [...d.methods.values()].some((m) => m.method === 'quadrature');
  return 8 * chunkN * chunkN * (d.pool.fresh + (quadrature ? QUADRATURE_UNITS : 0));
}

/** The recursion on `inputs` up to the model's outputs (the training one, and the test one). */
function runDeriver(probes: Probes, prep: Prepared, inputs: Inputs, opts: LimitOptions, onProgress?: (fraction: number) => void): Deriver {
  const d = new Deriver(probes, inputs, opts.tol ?? 1e-12, opts.quadrature === true);
  d.run(prep.testOut !== null ? [prep.trainOut, prep.testOut] : [prep.trainOut], onProgress);
  return d;
}

interface Prepared {
  inputs: Inputs;
  trainOut: NodeId;
  testOut: NodeId | null;
  k: number;
  trace: Map<NodeId, NodeId>;
}

/**
 * The inputs of the limit: the rows of a row-separable model (and of its test, which must be the
 * same function of its rows), or the whole model as one input.
 */
function prepare(pm: Model): Prepared {
  const g = pm.graph;
  const nRows = pm.outputShape[0];
  const trace = new Map<NodeId, NodeId>();
  const rowed = nRows !== undefined ? pm.data.filter((d) => d.shape[0] === nRows && g.cone([pm.output]).includes(d.node)) : [];
  const standIns = rowed.map((d) => g.fresh('data', [1, ...d.shape.slice(1)], `${d.name}_row`));
  const r = rowed.length > 0 ? restrictRows(g, pm.output, nRows!, new Map(rowed.map((d, i) => [d.node, standIns[i]!])), trace) : null;
  if (!r) {
    if (pm.test) throw new NtkError([{ severity: 'error', file: pm.file, span: pm.test.span, message: 'limit kernels with a test need a row-separable model (h = f(X) applied to each row)' }]);
    const k = sizeOf(pm.outputShape);
    return { inputs: { N: 1, nTrain: 1, rows: [] }, trainOut: g.reshape(pm.output, [k]), testOut: null, k, trace };
  }
  const k = sizeOf(pm.outputShape) / nRows!;
  const trainOut = g.reshape(r.id, [k]);
  let testOut: NodeId | null = null, nTest = 0;
  let testRows: Float64Array[] = [];
  if (pm.test) {
    const nt = pm.test.shape[0];
    const testNode = pm.test.output;
    const testRoot = g.op(testNode) === 'reshape' ? g.args(testNode)[0]! : testNode;
    const trowed = nt !== undefined ? pm.data.filter((d) => d.shape[0] === nt && g.cone([testRoot]).includes(d.node)) : [];
    const ok = trowed.length === rowed.length && trowed.every((d, i) => d.shape.slice(1).join() === rowed[i]!.shape.slice(1).join());
    const tr = ok ? restrictRows(g, testRoot, nt!, new Map(trowed.map((d, i) => [d.node, standIns[i]!])), trace) : null;
    if (!tr || sizeOf(pm.test.shape) / nt! !== k)
      throw new NtkError([{ severity: 'error', file: pm.file, span: pm.test.span, message: `the test '${pm.test.name}' must be the model's function applied to other rows (the same outputs per row) for its limit kernels` }]);
    testOut = g.reshape(tr.id, [k]);
    nTest = nt!;
    testRows = trowed.map((d) => d.value);
  }
  const N = nRows! + nTest;
  const inputs: Inputs = {
    N, nTrain: nRows!,
    rows: rowed.map((d, i) => {
      const rowSize = sizeOf(d.shape.slice(1));
      const values = new Float64Array(N * rowSize);
      values.set(d.value, 0);
      if (nTest) values.set(testRows[i]!, nRows! * rowSize);
      return { standIn: standIns[i]!, batched: g.fresh('data', [N, 1, ...d.shape.slice(1)], `${d.name}_all`), values };
    }),
  };
  return { inputs, trainOut, testOut, k, trace };
}

/**
 * The test kernels' diagonals without the test × test blocks: the derivation runs on the
 * training inputs and one chunk of test inputs at a time; the train blocks come from the first
 * chunk, the cross blocks and the diagonals are concatenated.
 */
function diagonalChunks(pm: Model, all: Inputs, chunk: number | undefined, derive: (inputs: Inputs, c: number, chunks: number) => LimitDense): LimitDense {
  const n = all.nTrain, nt = all.N - n, c = Math.max(1, Math.floor(chunk ?? Math.max(n, 64)));
  const diag = (M: DenseMatrix | null | undefined) => (M ? Array.from({ length: M.rows }, (_, i) => M.data[i * M.cols + i]!) : null);
  // the rows of b below those of a
  const stack = (a: DenseMatrix | null | undefined, b: DenseMatrix | null | undefined): DenseMatrix | null => {
    if (!a || !b) return null;
    const data = new Float64Array(a.data.length + b.data.length);
    data.set(a.data, 0);
    data.set(b.data, a.data.length);
    return { rows: a.rows + b.rows, cols: a.cols, data };
  };
  let report: LimitDense | null = null;
  for (let s = 0; s < nt; s += c) {
    const e = Math.min(nt, s + c), N = n + e - s;
    const rows = all.rows.map((r) => {
      const size = r.values.length / all.N;
      const values = new Float64Array(N * size);
      values.set(r.values.subarray(0, n * size), 0);
      values.set(r.values.subarray((n + s) * size, (n + e) * size), n * size);
      const shape = pm.graph.shape(r.batched);
      return { standIn: r.standIn, batched: pm.graph.fresh('data', [N, ...shape.slice(1)], `chunk_${s}`), values };
    });
    const r = derive({ N, nTrain: n, rows }, s / c, Math.ceil(nt / c));
    const dn = diag(r.nngpTest), dt = diag(r.ntkTest);
    if (!report) {
      report = { ...r, nngpTestDiag: dn, ntkTestDiag: dt, nngpTest: null, ntkTest: null, nTest: nt };
      continue;
    }
    const cat = <T>(a: T[] | null | undefined, b: T[] | null | undefined) => (a && b ? a.concat(b) : null);
    report.nngpCross = stack(report.nngpCross, r.nngpCross);
    report.ntkCross = stack(report.ntkCross, r.ntkCross);
    report.nngpTestDiag = cat(report.nngpTestDiag, dn);
    report.ntkTestDiag = cat(report.ntkTestDiag, dt);
    report.accuracy = Math.max(report.accuracy, r.accuracy);
    for (const m of r.method) {
      const prev = report.method.find((x) => x.pair === m.pair);
      if (!prev) report.method.push(m);
      else { prev.order = Math.max(prev.order, m.order); prev.accuracy = Math.max(prev.accuracy, m.accuracy); }
    }
  }
  return report!;
}

function located(m: Model, e: Unsupported, trace: Map<NodeId, NodeId>): NtkError {
  const span = spanOf(m, e.node, trace);
  const d: Diagnostic = { severity: 'error', file: m.file, span, message: `infinite-width limit: ${e.message}`, ...(e.hint ? { hint: e.hint } : {}) };
  return new NtkError([d]);
}

/** The span of a node, or of the nearest node that uses it (internal nodes of composites have none). */
function spanOf(m: Model, node: NodeId, orig: Map<NodeId, NodeId>): Span | null {
  const spans = m.spans;
  if (!spans) return null;
  const g = m.graph;
  // one-row nodes are traced to the nodes they restrict
  const users = new Map<NodeId, NodeId[]>();
  for (let i = 0; i < g.size; i++) for (const a of g.args(i)) (users.get(a) ?? users.set(a, []).get(a)!).push(i);
  const seen = new Set<NodeId>();
  let frontier = [node];
  while (frontier.length) {
    const next: NodeId[] = [];
    for (const x of frontier) {
      const s = spans.get(orig.get(x) ?? x);
      if (s) return s;
      for (const u of users.get(x) ?? []) if (!seen.has(u)) { seen.add(u); next.push(u); }
    }
    frontier = next;
  }
  return null;
}

function assemble(d: Deriver, opts: LimitOptions, inputs: Inputs, k: number, trainOut: NodeId, testOut: NodeId | null): LimitDense {
  const N = inputs.N, n = inputs.nTrain, nt = N - n;
  const outTrain = d.av.get(trainOut)!, outTest = testOut !== null ? d.av.get(testOut)! : null;
  if (outTrain.k !== 'out') throw new Unsupported(trainOut, `the model's output is ${describe(outTrain)}, not a readout of the width (a weight contracted with a hidden vector)`);
  if (outTest && outTest.k !== 'out') throw new Unsupported(testOut!, `the test output is ${describe(outTest)}, not a readout`);
  const compsA = outTrain.comps, compsB = outTest ? (outTest as AV & { k: 'out' }).comps : compsA;
  // kernel blocks between (comps X on inputs rows) and (comps Y on inputs cols)
  const block = (which: 'C' | 'T', X: OutTerm[][], Y: OutTerm[][], rows: [number, number], cols: [number, number]) => {
    const nr = rows[1] - rows[0], nc = cols[1] - cols[0];
    let e = -Infinity;
    // leading exponent first
    for (let o = 0; o < k; o++) for (let p = 0; p < k; p++) for (const s of X[o]!) for (const t of Y[p]!) {
      if (s.src !== t.src || s.j !== t.j) continue;
      const M = d.sources[s.src]![which];
      if (M.M) e = Math.max(e, M.e + s.c.e + t.c.e);
    }
    if (e === -Infinity) return { e: null as number | null, K: null as DenseMatrix | null };
    const e0 = Math.abs(e) < EPS_E ? 0 : e;
    // only a finite limit is written out
    if (e0 !== 0) return { e: e0, K: null };
    // from the pool: the arrays of the recursion that the outputs no longer need (run's last sweep)
    const ld = nc * k, F = d.mats.zeros(nr * k * ld);
    for (let o = 0; o < k; o++) for (let p = 0; p < k; p++) for (const s of X[o]!) for (const t of Y[p]!) {
      if (s.src !== t.src || s.j !== t.j) continue;
      const M = d.sources[s.src]![which];
      if (!M.M || !sameE(M.e + s.c.e + t.c.e, e)) continue;
      addBlock(F, ld, M, N, rows[0], cols[0], nr, nc, s.c.c * t.c.c, k, o, p);
    }
    return { e: e0, K: { rows: nr * k, cols: ld, data: F } as DenseMatrix };
  };
  const tr: [number, number] = [0, n], te: [number, number] = [n, N];
  const nngp = block('C', compsA, compsA, tr, tr), ntk = block('T', compsA, compsA, tr, tr);
  const jumps = jumpNote(d);
  const finite = (b: { e: number | null; K: DenseMatrix | null }) => (b.e === 0 ? b.K : null);
  const report: LimitDense = {
    width: opts.width,
    n, outputs: k,
    nngp: finite(nngp), ntk: jumps ? null : finite(ntk),
    nngpGrowth: nngp.e, ntkGrowth: jumps ? null : ntk.e,
    method: [...d.methods.values()],
    accuracy: Math.max(d.accuracy, 1e-15),
    recursion: d.recursion,
    latex: d.latex,
  };
  if (jumps) report.ntkNote = jumps;
  else if (ntk.e !== null && ntk.e !== 0) report.ntkNote = `the NTK scales like m^${fmtE(ntk.e)}: ${ntk.e > 0 ? 'standard parametrization (the variance is in the initializer, not a 1/sqrt(m) in the expression)' : 'a mean-field scaling: the kernel vanishes'}`;
  if (testOut !== null) {
    report.nTest = nt;
    report.nngpCross = finite(block('C', compsB, compsA, te, tr));
    report.ntkCross = jumps ? null : finite(block('T', compsB, compsA, te, tr));
    report.nngpTest = finite(block('C', compsB, compsB, te, te));
    report.ntkTest = jumps ? null : finite(block('T', compsB, compsB, te, te));
  }
  return report;
}

/** F[from … from + len) as a plain array of numbers (JSON), without an iterator per element. */
function toNumbers(F: Float64Array, from: number, len: number): number[] {
  const row = new Array<number>(len);
  for (let i = 0; i < len; i++) row[i] = F[from + i]!;
  return row;
}

/**
 * F[(a·k + o), (b·k + p)] += c·M(r0 + a, c0 + b) for a < nr, b < nc (F has leading dimension
 * ld), in 64 × 64 tiles, so that the mirrored reads of an upper-only M stay in cache.
 */
function addBlock(F: Float64Array, ld: number, M: SMat, N: number, r0: number, c0: number, nr: number, nc: number, c: number, k: number, o: number, p: number) {
  const X = M.M!, full = !!M.full, T = 64;
  for (let A = 0; A < nr; A += T)
    for (let B = 0; B < nc; B += T) {
      const aEnd = Math.min(A + T, nr), bEnd = Math.min(B + T, nc);
      for (let a = A; a < aEnd; a++) {
        const i = r0 + a, row = (a * k + o) * ld + p;
        for (let b = B; b < bEnd; b++) {
          const j = c0 + b;
          F[row + b * k]! += c * (full || i <= j ? X[i * N + j]! : X[j * N + i]!);
        }
      }
    }
}

function jumpNote(d: Deriver): string | null {
  // a discontinuous activation (sign, a step) has a δ in its derivative: no NTK
  const f = d.jumps[0];
  return f === undefined ? null : `the activation ${f}: its derivative has a δ there and the NTK does not exist (the NNGP does)`;
}
