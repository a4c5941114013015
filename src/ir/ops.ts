/**
 * The primitive registry: the closed set of primitive operations of the tensor graph, and for
 * each ONE entry holding everything the project knows about it —
 *  - arity, shape rule, linearity, smoothness;
 *  - for elementwise ops, the scalar function (and, for unary ones, its first two derivatives,
 *    the sup of |f′|, |f″|, |f‴| over an interval and its range), from which constant folding,
 *    the reference kernels' loops, the fused loops' code, the numeric twins of composites and
 *    the enclosures' bounds are all derived;
 *  - the JVP, transpose and batching rules (run by `ad/jvp.ts`, `ad/transpose.ts`, `ad/vmap.ts`);
 *  - text and LaTeX printing (run by `ir/print.ts`).
 *
 * `PRIMITIVES` is a mapped type over `Op`, so an op without an entry, or an entry without a
 * field, is a compile error. Lists such as `UNARY_OPS` are derived from it.
 *
 * Adding an elementwise function to the language: if it can be composed stably from the
 * primitives, one entry in `composites.ts`; otherwise add its name to `UnaryOp` and one
 * `unaryOp(…)` entry here (see `atan`).
 *
 * Shapes are static: `number[]`, row-major, `[]` for a scalar.
 */
import { erf } from '../math/erf.ts';
import type { AtomTerm } from '../math/gaussian.ts';
import { absMax, absMin, increasing, logistic, outward, softplus, supSinLike, unimodalAbs, up } from '../math/scalar.ts';
import type { Graph, NodeId } from './graph.ts';
import type { Monomial } from './symbols.ts';
import {
  PREC, aligned, argOf, chain, lift, noBatch, sameOp, shapeOfArg, shifted, total, zeroTangent,
  broadcastMaps, type BatchRule, type EncloseRule, type JvpRule, type PrintRule, type ScalarBounds, type TransposeRule,
} from './rules.ts';
import {
  broadcastIndex, broadcastShape, concatShape, sameShape, sizeOf, elementwiseShape, leafShape, matmulShape, padShape, reshapeShape, sliceShape, sumShape,
  transposeShape, unaryShape,
} from './shape.ts';

export type UnaryOp = 'neg' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh' | 'erf' | 'softplus' | 'atan' | 'sign';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow';
export type StructOp = 'broadcast' | 'sum' | 'reshape' | 'transpose' | 'slice' | 'pad' | 'concat';
export type LeafOp = 'input' | 'const' | 'literal';
export type Op = LeafOp | UnaryOp | BinaryOp | StructOp | 'matmul';

/** What an input node stands for; all are bound to arrays when a plan runs. */
export type InputRole = 'param' | 'data' | 'var' | 'tangent' | 'cotangent';

/**
 * Attributes of a node. Only the fields that its op uses are set. Attributes are part of a
 * node's identity for hash-consing.
 */
export interface Attrs {
  /** input: the name (unique per role) and role. */
  name?: string;
  role?: InputRole;
  /** const: the value of every element. */
  value?: number;
  /** const: where the value came from, a monomial in named consts and dims (`ir/symbols.ts`; for printing only). */
  sym?: Monomial;
  /** literal: the row-major data, and a key that identifies it (content hash). */
  data?: Float64Array;
  key?: string;
  /** broadcast, reshape, pad: the output shape. */
  shape?: number[];
  /** sum: the axes reduced (sorted, distinct, in range). */
  axes?: number[];
  /** transpose: output axis i is input axis perm[i]. */
  perm?: number[];
  /** slice: [starts[i], ends[i]) along every axis; pad: the zeros before each axis. */
  starts?: number[];
  ends?: number[];
  /** concat: the axis joined along. */
  axis?: number;
}

/**
 * How an op depends on its inputs, for the transpose of a linearized graph:
 *  - `none`: not linear in any input (or a leaf);
 *  - `all`: jointly linear in all its inputs (add, sub, neg and the structural ops);
 *  - `each`: linear in each input separately when the others are held fixed (mul, div in its
 *    numerator, matmul). In a JVP graph only one input of such a node ever carries a tangent.
 */
export type Linearity = 'none' | 'all' | 'each';

/** What every entry holds. */
export interface Primitive {
  kind: 'leaf' | 'unary' | 'binary' | 'structural';
  /** Number of inputs; -1 for variadic (concat). */
  arity: number;
  linearity: Linearity;
  /** False for ops with a discontinuous derivative (sign): results assuming smoothness say so. */
  smooth: boolean;
  /** Output shape from input shapes and attributes; throws ShapeError on a mismatch. */
  shape: (inputs: number[][], a: Attrs) => number[];
  jvp: JvpRule;
  /** Null for ops that are not linear in any input: reaching one is a bug in a JVP rule. */
  transpose: TransposeRule | null;
  batch: BatchRule;
  print: PrintRule;
  /** The enclosure rule (run by `lip/enclosure.ts` for certified bounds and their memory estimate). */
  enclose: EncloseRule;
}

/**
 * A function of one real variable as the project uses it: its value, its first two derivatives
 * and bounds of its derivatives over intervals (`ScalarBounds`), and its code. Per-function
 * knowledge added later (e.g. Gaussian expectations E[f(u)g(v)]) goes here as one more field.
 */
export interface ScalarFunction extends ScalarBounds {
  /**
   * f as an inline JavaScript expression over a variable, bitwise equal to `f` (the generated
   * loops use it). Default: `Math.name(x)` when f is that Math function, else a call of f.
   */
  code?: (x: string) => string;
}

/**
 * The Gaussian-expectation rule of a unary op (infinite-width limits, `nth/limit.ts`): f and f′
 * as combinations Σ c·A(β·x) of the closed-form atoms of `math/gaussian.ts`, or null where there
 * is none (then the pair expectations are integrated numerically from `scalar.f`, `scalar.d1`).
 */
export interface GaussianRule {
  f: AtomTerm[] | null;
  d1: AtomTerm[] | null;
}

export interface UnaryPrimitive extends Primitive {
  kind: 'unary';
  scalar: ScalarFunction;
  gaussian: GaussianRule;
  /** Callable by this name in `.ntk` files (neg is written `-x`). */
  language: boolean;
  /** LaTeX of the function's name (default \operatorname{name}). */
  tex?: string;
  /** The function in mathjs's syntax, over the text of its argument (`symbolic/closed-form.ts`; default `name(x)`). */
  mathjs: (x: string) => string;
}

export interface BinaryPrimitive extends Primitive {
  kind: 'binary';
  /** a op b, as the reference kernels compute it (for pow: with their fast paths). */
  f: (a: number, b: number) => number;
  /** The same as an inline JavaScript expression; `cb` is b's value when b is a constant. */
  code: (a: string, b: string, cb: number | undefined) => string;
  /** Values of a constant b for which `code` has a form of its own (pow: 2, 0.5, 1, −1, 3); the kernels specialize their loops on them. */
  specialB?: readonly number[];
}

/** The entry type of each op: unary and binary ops carry their scalar functions. */
export type Entry<K extends Op> = K extends UnaryOp ? UnaryPrimitive : K extends BinaryOp ? BinaryPrimitive : Primitive;

// ------------------------------------------------------------------ entry builders

const fnPrint =
  (name: string, tex?: string): PrintRule =>
  (p, _a, [x]) => [p.fn(name, p.render(x!)[0], tex), PREC.atom];

/** A unary elementwise op: shape of its input, batched by aligning ranks, printed as name(x). */
function unaryOp(
  name: UnaryOp,
  spec: { scalar: ScalarFunction; gaussian: GaussianRule; jvp: JvpRule; tex?: string } & Partial<Pick<UnaryPrimitive, 'linearity' | 'smooth' | 'transpose' | 'print' | 'language' | 'enclose' | 'mathjs'>>,
): UnaryPrimitive {
  return {
    // by default a smooth function: enclosed through the bounds of its derivatives
    enclose: spec.enclose ?? ((k, _g, _y, [x]) => k.smooth(x!, spec.scalar, name)),
    kind: 'unary',
    arity: 1,
    shape: unaryShape,
    batch: aligned,
    linearity: spec.linearity ?? 'none',
    smooth: spec.smooth ?? true,
    transpose: spec.transpose ?? null,
    print: spec.print ?? fnPrint(name, spec.tex),
    language: spec.language ?? true,
    mathjs: spec.mathjs ?? ((x) => `${name}(${x})`),
    scalar: spec.scalar,
    gaussian: spec.gaussian,
    jvp: spec.jvp,
    ...(spec.tex !== undefined ? { tex: spec.tex } : {}),
  };
}

function binaryOp(spec: Omit<BinaryPrimitive, 'kind' | 'arity' | 'shape' | 'batch'>): BinaryPrimitive {
  return { kind: 'binary', arity: 2, shape: elementwiseShape, batch: aligned, ...spec };
}

const leafOp = (print: PrintRule, enclose: EncloseRule): Primitive => ({
  kind: 'leaf', arity: 0, linearity: 'none', smooth: true, shape: leafShape, jvp: zeroTangent, transpose: null, batch: noBatch, print, enclose,
});

/**
 * A structural op: linear in all its inputs, the tangent is the same op applied to it, and its
 * enclosure by default a gather of its inputs' elements.
 */
function structOp(spec: Pick<Primitive, 'shape' | 'transpose' | 'batch' | 'print'> & Partial<Pick<Primitive, 'arity' | 'jvp' | 'enclose'>>): Primitive {
  return { kind: 'structural', arity: 1, linearity: 'all', smooth: true, jvp: sameOp, enclose: (k, _g, y, X) => k.gather(y, X), ...spec };
}

/** The logistic function as a graph: ½ + ½·tanh(x/2), which never overflows (softplus′). */
export function logisticGraph(g: Graph, x: NodeId): NodeId {
  const half = g.constant(0.5);
  return g.add(half, g.mul(half, g.tanh(g.mul(half, x))));
}

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const SQRT_PI = Math.sqrt(Math.PI);

/**
 * a^b as the kernels compute it: the exponents 2, 0.5, 1, −1 and 3 by x·x, √x, x, 1/x, x·x·x
 * (equal to Math.pow up to rounding, and for 0.5 in the IEEE sqrt edge cases √−0 = −0,
 * √−∞ = NaN, where pow gives +0 and +∞), others by Math.pow.
 */
export function powScalar(a: number, b: number): number {
  return b === 2 ? a * a : b === 0.5 ? Math.sqrt(a) : b === 1 ? a : b === -1 ? 1 / a : b === 3 ? a * a * a : Math.pow(a, b);
}

/** 1/x (for the enclosure of a division a·(1/b)): derivatives −1/x², 2/x³, −6/x⁴; unbounded when 0 is in the range. */
export const RECIPROCAL: ScalarBounds = {
  f: (x) => 1 / x,
  range: (lo, hi) => (lo <= 0 && hi >= 0 ? [-Infinity, Infinity] : outward(1 / hi, 1 / lo)),
  d1: (x) => -1 / (x * x),
  d2: (x) => 2 / (x * x * x),
  sup: (j, lo, hi) => {
    const a = absMin(lo, hi);
    if (a === 0) return Infinity;
    return up(j === 1 ? 1 / (a * a) : j === 2 ? 2 / (a * a * a) : 6 / (a * a * a * a));
  },
};

/**
 * x^c for a fixed exponent c. The j-th derivative is c(c−1)…(c−j+1)·x^{c−j}; its sup over the
 * range is |coefficient|·sup |x|^{c−j}, monotone in |x|. Non-integer c needs x > 0 on the range.
 */
export function powerFunction(c: number): ScalarBounds {
  const integer = Number.isInteger(c);
  const coef = (j: number) => { let s = 1; for (let i = 0; i < j; i++) s *= c - i; return s; };
  const supAbsPow = (q: number, lo: number, hi: number) => {
    if (q === 0) return 1;
    if (q > 0) return absMax(lo, hi) ** q;
    const a = absMin(lo, hi);
    return a === 0 ? Infinity : a ** q;
  };
  return {
    f: (x) => x ** c,
    range: (lo, hi) => {
      if (integer && c % 2 === 0) {
        // even power: a function of |x|, increasing in |x| for c > 0, decreasing for c < 0
        const a = absMin(lo, hi), b = absMax(lo, hi);
        return c > 0 ? outward(a ** c, b ** c) : a === 0 ? [-Infinity, Infinity] : outward(b ** c, a ** c);
      }
      if (integer && c > 0) return outward(lo ** c, hi ** c); // odd power: increasing
      if (lo <= 0) return [-Infinity, Infinity];
      return c > 0 ? outward(lo ** c, hi ** c) : outward(hi ** c, lo ** c);
    },
    d1: (x) => c * x ** (c - 1),
    d2: (x) => c * (c - 1) * x ** (c - 2),
    sup: (j, lo, hi) => {
      const k = coef(j);
      if (k === 0) return 0;
      if (!integer && lo <= 0) return Infinity;
      return up(Math.abs(k) * supAbsPow(c - j, lo, hi));
    },
  };
}

// ------------------------------------------------------------------ the registry

/** The one table of primitive ops. */
export const PRIMITIVES: { [K in Op]: Entry<K> } = {
  input: leafOp((p, a) => [p.name(a.name!), PREC.atom], (k, _g, y) => k.input(y)),
  // in LaTeX a constant computed from named consts is printed as what it came from (1/√T, √m)
  const: leafOp((p, a) => (p.tex && a.sym ? p.provenance(a.sym) : [p.number(a.value!), a.value! < 0 ? PREC.neg : PREC.atom]), (k, g, y) => k.exact(g.attrs(y).value!, g.sizeOf(y))),
  literal: leafOp((p, a) => [p.literal(a.data!, a.shape!), PREC.atom], (k, g, y) => k.exact(g.attrs(y).data!, g.sizeOf(y))),

  neg: unaryOp('neg', {
    gaussian: { f: [{ atom: 'id', coef: -1, scale: 1 }], d1: [{ atom: 'one', coef: -1, scale: 1 }] },
    scalar: { f: (x) => -x, code: (x) => `-${x}`, d1: () => -1, d2: () => 0, sup: null },
    linearity: 'all',
    language: false,
    mathjs: (x) => `-(${x})`,
    jvp: (g, _y, _x, [t]) => (t === null ? null : g.neg(t)),
    transpose: (g, _y, _i, c) => g.neg(c),
    print: (p, _a, [x]) => [`-${p.wrap(x!, PREC.neg + 1)}`, PREC.neg],
    enclose: (k, g, y, X) => k.linear(X, g.sizeOf(y), (e, emit) => emit(0, e, -1)),
  }),
  exp: unaryOp('exp', {
    gaussian: { f: [{ atom: 'exp', coef: 1, scale: 1 }], d1: [{ atom: 'exp', coef: 1, scale: 1 }] },
    scalar: { f: Math.exp, d1: Math.exp, d2: Math.exp, sup: (_j, _lo, hi) => up(Math.exp(hi)), range: increasing(Math.exp) },
    jvp: chain((_g, _x, y) => y),
    print: (p, _a, [x]) => (p.tex ? [`e^{${p.render(x!)[0]}}`, PREC.pow] : [p.fn('exp', p.render(x!)[0]), PREC.atom]),
  }),
  log: unaryOp('log', {
    gaussian: { f: null, d1: null },
    scalar: {
      f: Math.log,
      d1: (x) => 1 / x,
      d2: (x) => -1 / (x * x),
      sup: (j, lo) => (lo <= 0 ? Infinity : up(j === 1 ? 1 / lo : j === 2 ? 1 / (lo * lo) : 2 / (lo * lo * lo))),
      range: (lo, hi) => (lo <= 0 ? [-Infinity, Infinity] : outward(Math.log(lo), Math.log(hi))),
    },
    jvp: (g, _y, [x], [t]) => (t === null ? null : g.div(t, x!)),
    tex: '\\log',
  }),
  sin: unaryOp('sin', {
    gaussian: { f: [{ atom: 'sin', coef: 1, scale: 1 }], d1: [{ atom: 'cos', coef: 1, scale: 1 }] },
    scalar: { f: Math.sin, d1: Math.cos, d2: (x) => -Math.sin(x), sup: (j, lo, hi) => supSinLike(lo, hi, j % 2 === 1 ? Math.PI / 2 : 0) },
    jvp: chain((g, x) => g.cos(x)),
    tex: '\\sin',
  }),
  cos: unaryOp('cos', {
    gaussian: { f: [{ atom: 'cos', coef: 1, scale: 1 }], d1: [{ atom: 'sin', coef: -1, scale: 1 }] },
    scalar: { f: Math.cos, d1: (x) => -Math.sin(x), d2: (x) => -Math.cos(x), sup: (j, lo, hi) => supSinLike(lo, hi, j % 2 === 1 ? 0 : Math.PI / 2) },
    jvp: chain((g, x) => g.neg(g.sin(x))),
    tex: '\\cos',
  }),
  tanh: unaryOp('tanh', {
    gaussian: { f: null, d1: null },
    scalar: {
      f: Math.tanh,
      range: increasing(Math.tanh),
      d1: (x) => 1 - Math.tanh(x) ** 2,
      d2: (x) => { const t = Math.tanh(x); return -2 * t * (1 - t * t); },
      sup: (j, lo, hi) => {
        // 1 − t² decreases in |x|; 2|t|(1 − t²) peaks at t = 1/√3; |2(1 − t²)(1 − 3t²)| ≤ 2.
        if (j === 1) return up(1 - Math.tanh(absMin(lo, hi)) ** 2);
        if (j === 2) return up(unimodalAbs((x) => { const t = Math.tanh(x); return 2 * t * (1 - t * t); }, Math.atanh(1 / Math.sqrt(3)), lo, hi));
        return 2;
      },
    },
    // tanh′ = 1 − tanh²
    jvp: chain((g, _x, y) => g.sub(g.constant(1), g.mul(y, y))),
    tex: '\\tanh',
  }),
  erf: unaryOp('erf', {
    gaussian: { f: [{ atom: 'erf', coef: 1, scale: 1 }], d1: [{ atom: 'gauss', coef: TWO_OVER_SQRT_PI, scale: 1 }] },
    scalar: {
      f: erf,
      range: increasing(erf),
      d1: (x) => (2 / SQRT_PI) * Math.exp(-x * x),
      d2: (x) => (-4 / SQRT_PI) * x * Math.exp(-x * x),
      sup: (j, lo, hi) => {
        // erf′ = (2/√π)e^{−x²} decreases in |x|; |erf″| = (4/√π)|x|e^{−x²} peaks at |x| = 1/√2;
        // |erf‴| = (2/√π)|4x² − 2|e^{−x²} ≤ 4/√π.
        if (j === 1) return up((2 / SQRT_PI) * Math.exp(-(absMin(lo, hi) ** 2)));
        if (j === 2) return up(unimodalAbs((x) => (4 / SQRT_PI) * x * Math.exp(-x * x), Math.SQRT1_2, lo, hi));
        return up(4 / SQRT_PI);
      },
    },
    // erf′ = (2/√π)·e^{−x²}
    jvp: chain((g, x) => g.mul(g.constant(TWO_OVER_SQRT_PI), g.exp(g.neg(g.mul(x, x))))),
    tex: '\\operatorname{erf}',
  }),
  softplus: unaryOp('softplus', {
    gaussian: { f: null, d1: null },
    mathjs: (x) => `log(1 + exp(${x}))`,
    scalar: {
      f: softplus,
      range: increasing(softplus),
      d1: logistic,
      d2: (x) => { const s = logistic(x); return s * (1 - s); },
      sup: (j, lo, hi) => {
        // softplus′ = σ increases; softplus″ = σ(1−σ) decreases in |x|; |σ(1−σ)(1−2σ)| ≤ 1/(6√3).
        if (j === 1) return up(logistic(hi));
        if (j === 2) { const s = logistic(absMin(lo, hi)); return up(s * (1 - s)); }
        return up(1 / (6 * Math.sqrt(3)));
      },
    },
    // softplus′ = σ, the logistic function
    jvp: chain((g, x) => logisticGraph(g, x)),
  }),
  atan: unaryOp('atan', {
    gaussian: { f: null, d1: null },
    scalar: {
      f: Math.atan,
      range: increasing(Math.atan),
      d1: (x) => 1 / (1 + x * x),
      d2: (x) => { const q = 1 + x * x; return (-2 * x) / (q * q); },
      sup: (j, lo, hi) => {
        // atan′ = 1/(1 + x²) decreases in |x|; |atan″| = 2|x|/(1 + x²)² peaks at |x| = 1/√3;
        // |atan‴| = |6x² − 2|/(1 + x²)³ ≤ 2 (its value at 0).
        if (j === 1) { const a = absMin(lo, hi); return up(1 / (1 + a * a)); }
        if (j === 2) return up(unimodalAbs((x) => (2 * x) / (1 + x * x) ** 2, 1 / Math.sqrt(3), lo, hi));
        return 2;
      },
    },
    // atan′ = 1/(1 + x²)
    jvp: (g, _y, [x], [t]) => (t === null ? null : g.div(t, g.add(g.constant(1), g.mul(x!, x!)))),
    tex: '\\arctan',
  }),
  sign: unaryOp('sign', {
    gaussian: { f: [{ atom: 'sign', coef: 1, scale: 1 }], d1: [] },
    // −1, 0 (keeping the sign of a zero), +1; NaN stays NaN.
    scalar: { f: Math.sign, d1: () => 0, d2: () => 0, sup: null },
    smooth: false,
    // sign′ = 0 almost everywhere (the graph remembers that sign is non-smooth).
    jvp: zeroTangent,
    // constant (±1, zero derivatives) where the range excludes 0; otherwise a jump
    enclose: (k, _g, _y, [x]) => k.sign(x!),
  }),

  add: binaryOp({
    linearity: 'all',
    smooth: true,
    f: (a, b) => a + b,
    code: (a, b) => `${a} + ${b}`,
    jvp: (g, y, _x, [ta, tb]) => total(g, y, [ta!, tb!]),
    transpose: (g, y, i, c) => g.sumTo(c, shapeOfArg(g, y, i)),
    print: (p, _a, [x, y]) => [`${p.wrap(x!, PREC.add)} + ${p.wrap(y!, PREC.add)}`, PREC.add],
    enclose: (k, g, y, X) => {
      const [m0, m1] = broadcastMaps(g, y);
      return k.linear(X, g.sizeOf(y), (e, emit) => { emit(0, m0![e]!, 1); emit(1, m1![e]!, 1); });
    },
  }),
  sub: binaryOp({
    linearity: 'all',
    smooth: true,
    f: (a, b) => a - b,
    code: (a, b) => `${a} - ${b}`,
    jvp: (g, y, _x, [ta, tb]) => total(g, y, [ta!, tb === null ? null : g.neg(tb!)]),
    transpose: (g, y, i, c) => (i === 0 ? g.sumTo(c, shapeOfArg(g, y, 0)) : g.neg(g.sumTo(c, shapeOfArg(g, y, 1)))),
    print: (p, _a, [x, y]) => [`${p.wrap(x!, PREC.add)} - ${p.wrap(y!, PREC.add + 1)}`, PREC.add],
    enclose: (k, g, y, X) => {
      const [m0, m1] = broadcastMaps(g, y);
      return k.linear(X, g.sizeOf(y), (e, emit) => { emit(0, m0![e]!, 1); emit(1, m1![e]!, -1); });
    },
  }),
  mul: binaryOp({
    linearity: 'each',
    smooth: true,
    f: (a, b) => a * b,
    code: (a, b) => `${a} * ${b}`,
    jvp: (g, y, [a, b], [ta, tb]) => total(g, y, [ta === null ? null : g.mul(ta!, b!), tb === null ? null : g.mul(a!, tb!)]),
    // y = a·b, linear in the argument i with the other one (1−i) a coefficient.
    transpose: (g, y, i, c) => g.sumTo(g.mul(argOf(g, y, 1 - i), c), shapeOfArg(g, y, i)),
    print: (p, _a, [x, y]) => {
      // a factor ±1 survives folding only when it came from named consts (b/2 with b = 2): plain text shows the value
      const c = p.tex ? undefined : p.constValue(x!);
      if (c === 1) return p.render(y!);
      if (c === -1) return [`-${p.wrap(y!, PREC.neg + 1)}`, PREC.neg];
      return [`${p.wrap(x!, PREC.mul)}${p.tex ? ' \\, ' : '*'}${p.wrap(y!, PREC.mul)}`, PREC.mul];
    },
    enclose: (k, g, y, X) => {
      const [x0, x1] = g.args(y) as [NodeId, NodeId];
      // |x| = x·sign(x) (abs, relu): 1-Lipschitz; smooth where the ball keeps x away from 0.
      const abs = g.op(x1) === 'sign' && g.args(x1)[0] === x0 ? 0 : g.op(x0) === 'sign' && g.args(x0)[0] === x1 ? 1 : -1;
      if (abs >= 0 && sameShape(g.shape(x0), g.shape(x1))) return k.abs(X[abs]!);
      // x·x = x²: its range is nonnegative, which the product rule alone does not see.
      if (x0 === x1) return k.smooth(X[0]!, powerFunction(2), 'a square');
      const [m0, m1] = broadcastMaps(g, y);
      return k.product(X[0]!, X[1]!, g.sizeOf(y), (e, emit) => emit(m0![e]!, m1![e]!));
    },
  }),
  div: binaryOp({
    linearity: 'each',
    smooth: true,
    f: (a, b) => a / b,
    code: (a, b) => `${a} / ${b}`,
    // d(a/b) = ȧ/b − (a/b)·ḃ/b
    jvp: (g, y, [_a, b], [ta, tb]) =>
      total(g, y, [ta === null ? null : g.div(ta!, b!), tb === null ? null : g.neg(g.mul(g.div(y, b!), tb!))]),
    transpose: (g, y, i, c) => {
      if (i !== 0) throw new Error('internal: division is linear in its numerator only');
      return g.sumTo(g.div(c, argOf(g, y, 1)), shapeOfArg(g, y, 0));
    },
    print: (p, _a, [x, y]) =>
      p.tex ? [`\\frac{${p.render(x!)[0]}}{${p.render(y!)[0]}}`, PREC.atom] : [`${p.wrap(x!, PREC.mul)}/${p.wrap(y!, PREC.mul + 1)}`, PREC.mul],
    // a/b = a·(1/b): the reciprocal by the unary rules (unbounded if 0 ∈ range of b)
    enclose: (k, g, y, X) => {
      const r = k.smooth(X[1]!, RECIPROCAL, 'a division');
      const [m0, m1] = broadcastMaps(g, y);
      return k.product(X[0]!, r, g.sizeOf(y), (e, emit) => emit(m0![e]!, m1![e]!));
    },
  }),
  pow: binaryOp({
    linearity: 'none',
    smooth: true,
    f: powScalar,
    specialB: [2, 0.5, 1, -1, 3],
    code: (a, b, cb) =>
      cb === 2 ? `${a} * ${a}`
      : cb === 0.5 ? `Math.sqrt(${a})`
      : cb === 1 ? a
      : cb === -1 ? `1 / ${a}`
      : cb === 3 ? `${a} * ${a} * ${a}`
      : `Math.pow(${a}, ${b})`,
    // d(a^b) = b·a^(b−1)·ȧ + log(a)·a^b·ḃ  (the second term only when b varies)
    jvp: (g, y, [a, b], [ta, tb]) =>
      total(g, y, [
        ta === null ? null : g.mul(g.mul(b!, g.pow(a!, g.sub(b!, g.constant(1)))), ta!),
        tb === null ? null : g.mul(g.mul(g.log(a!), y), tb!),
      ]),
    transpose: null,
    print: (p, _a, [x, y]) => {
      if (p.constValue(y!) === 0.5) return [p.tex ? `\\sqrt{${p.render(x!)[0]}}` : `sqrt(${p.render(x!)[0]})`, PREC.atom];
      if (p.tex) return [`${p.wrap(x!, PREC.pow + 1)}^{${p.render(y!)[0]}}`, PREC.pow];
      return [`${p.wrap(x!, PREC.pow + 1)}^${p.wrap(y!, PREC.pow)}`, PREC.pow];
    },
    enclose: (k, g, y, [base, ex]) => {
      const [m0, m1] = broadcastMaps(g, y);
      const n = g.sizeOf(y);
      // a^b = exp(b·log a) when the exponent depends on the weights
      if (!k.isConstant(ex!)) {
        const la = k.smooth(base!, PRIMITIVES.log.scalar, 'pow');
        return k.smooth(k.product(ex!, la, n, (e, emit) => emit(m1![e]!, m0![e]!)), PRIMITIVES.exp.scalar, 'pow');
      }
      // a fixed exponent per element: x^c by its own bounds
      const fns = new Map<number, ScalarBounds>();
      const fnAt = (e: number) => {
        const c = k.mid(ex!, m1![e]!);
        let fn = fns.get(c);
        if (!fn) fns.set(c, (fn = powerFunction(c)));
        return fn;
      };
      return k.smooth(k.select(base!, m0!), fnAt, 'a power');
    },
  }),

  broadcast: structOp({
    shape: broadcastShape,
    transpose: (g, y, _i, c) => g.sumTo(c, shapeOfArg(g, y, 0)),
    batch: (g, y, [x], prefix) => {
      const target = g.attrs(y).shape!;
      const lifted = lift(g, x!.id, prefix, g.shape(g.args(y)[0]!), target.length);
      return g.broadcast(lifted, [...prefix, ...target]);
    },
    // Broadcasting is implicit in the printed maths.
    print: (p, _a, [x]) => p.render(x!),
  }),
  sum: structOp({
    shape: sumShape,
    // y = Σ_axes x: x̄ = ȳ broadcast back along the summed axes.
    transpose: (g, y, _i, c) => {
      const xs = shapeOfArg(g, y, 0);
      const axes = g.attrs(y).axes!;
      const kept = xs.map((d, k) => (axes.includes(k) ? 1 : d));
      return g.broadcast(g.reshape(c, kept), xs);
    },
    batch: shifted((a, p) => ({ axes: a.axes!.map((ax) => ax + p) })),
    enclose: (k, g, y, X) => {
      const xs = g.shape(g.args(y)[0]!), axes = g.attrs(y).axes!;
      // each input element's output index: drop the summed axes
      const lists: number[][] = Array.from({ length: g.sizeOf(y) }, () => []);
      const idx = new Array<number>(xs.length).fill(0);
      for (let i = 0, N = sizeOf(xs); i < N; i++) {
        let o = 0;
        for (let d = 0; d < xs.length; d++) if (!axes.includes(d)) o = o * xs[d]! + idx[d]!;
        lists[o]!.push(i);
        for (let d = xs.length - 1; d >= 0; d--) { if (++idx[d]! < xs[d]!) break; idx[d] = 0; }
      }
      return k.linear(X, g.sizeOf(y), (e, emit) => { for (const i of lists[e]!) emit(0, i, 1); });
    },
    print: (p, a, [x]) =>
      p.tex
        ? [`\\sum_{${a.axes!.join(',')}}\\left(${p.render(x!)[0]}\\right)`, PREC.atom]
        : [`sum(${p.render(x!)[0]}, axes=[${a.axes!.join(', ')}])`, PREC.atom],
  }),
  reshape: structOp({
    shape: reshapeShape,
    transpose: (g, y, _i, c) => g.reshape(c, shapeOfArg(g, y, 0)),
    batch: shifted((a, _p, prefix) => ({ shape: [...prefix, ...a.shape!] })),
    // In LaTeX a reshape is implicit, like broadcasting: the mathematics does not change.
    print: (p, a, [x]) => (p.tex ? p.render(x!) : [`reshape(${p.render(x!)[0]}, [${a.shape!.join(', ')}])`, PREC.atom]),
  }),
  transpose: structOp({
    shape: transposeShape,
    transpose: (g, y, _i, c) => {
      const perm = g.attrs(y).perm!;
      const inv = new Array<number>(perm.length);
      perm.forEach((p, k) => (inv[p] = k));
      return g.transpose(c, inv);
    },
    batch: shifted((a, p) => ({ perm: [...range(p), ...a.perm!.map((q) => q + p)] })),
    print: (p, a, [x]) => {
      if (a.perm!.length === 2) return [`${p.wrap(x!, PREC.atom)}${p.tex ? '^{\\top}' : 'ᵀ'}`, PREC.atom];
      return [
        p.tex
          ? `\\operatorname{transpose}_{[${a.perm!.join(', ')}]}\\left(${p.render(x!)[0]}\\right)`
          : `transpose(${p.render(x!)[0]}, [${a.perm!.join(', ')}])`,
        PREC.atom,
      ];
    },
  }),
  slice: structOp({
    shape: sliceShape,
    transpose: (g, y, _i, c) => g.pad(c, g.attrs(y).starts!, shapeOfArg(g, y, 0)),
    batch: shifted((a, p, prefix) => ({ starts: [...Array(p).fill(0), ...a.starts!], ends: [...prefix, ...a.ends!] })),
    print: (p, a, [x]) => {
      const idx = a.starts!.map((s, i) => (s === a.ends![i]! - 1 ? `${s}` : `${s}:${a.ends![i]}`)).join(', ');
      return [p.tex ? `${p.wrap(x!, PREC.atom)}_{[${idx}]}` : `${p.wrap(x!, PREC.atom)}[${idx}]`, PREC.atom];
    },
  }),
  pad: structOp({
    shape: padShape,
    transpose: (g, y, _i, c) => {
      const before = g.attrs(y).starts!;
      const xs = shapeOfArg(g, y, 0);
      return g.slice(c, before, before.map((b, k) => b + xs[k]!));
    },
    batch: shifted((a, p, prefix) => ({ starts: [...Array(p).fill(0), ...a.starts!], shape: [...prefix, ...a.shape!] })),
    print: (p, a, [x]) =>
      p.tex
        ? [`\\operatorname{pad}_{[${a.starts!.join(', ')}] \\to [${a.shape!.join(', ')}]}\\left(${p.render(x!)[0]}\\right)`, PREC.atom]
        : [`pad(${p.render(x!)[0]}, at [${a.starts!.join(', ')}] in [${a.shape!.join(', ')}])`, PREC.atom],
  }),
  concat: structOp({
    arity: -1,
    shape: concatShape,
    jvp: (g, y, x, t) => {
      if (t.every((ti) => ti === null)) return null;
      return g.concat(x.map((xi, i) => t[i] ?? g.zeros(g.shape(xi))), g.attrs(y).axis!);
    },
    transpose: (g, y, i, c) => {
      const axis = g.attrs(y).axis!;
      const args = g.args(y);
      let offset = 0;
      for (let k = 0; k < i; k++) offset += g.shape(args[k]!)[axis]!;
      const xs = g.shape(args[i]!);
      const starts = xs.map((_, k) => (k === axis ? offset : 0));
      const ends = xs.map((d, k) => (k === axis ? offset + d : g.shape(y)[k]!));
      return g.slice(c, starts, ends);
    },
    batch: (g, y, x, prefix) => {
      const ins = x.map((v) => (v.batched ? v.id : g.broadcast(v.id, [...prefix, ...g.shape(v.id)])));
      return g.concat(ins, g.attrs(y).axis! + prefix.length);
    },
    print: (p, a, x) =>
      p.tex
        ? [`\\operatorname{concat}_{${a.axis}}\\left(${x.map((i) => p.render(i)[0]).join(', ')}\\right)`, PREC.atom]
        : [`concat(${x.map((i) => p.render(i)[0]).join(', ')}; axis ${a.axis})`, PREC.atom],
  }),
  matmul: {
    kind: 'structural',
    arity: 2,
    linearity: 'each',
    smooth: true,
    shape: matmulShape,
    jvp: (g, y, [a, b], [ta, tb]) =>
      total(g, y, [ta === null ? null : g.matmul(ta!, b!), tb === null ? null : g.matmul(a!, tb!)]),
    // y = a @ b: ā = ȳ @ bᵀ, b̄ = aᵀ @ ȳ, each summed over the batch axes it was broadcast along.
    transpose: (g, y, i, c) =>
      i === 0
        ? g.sumTo(g.matmul(c, g.swapLast(argOf(g, y, 1))), shapeOfArg(g, y, 0))
        : g.sumTo(g.matmul(g.swapLast(argOf(g, y, 0)), c), shapeOfArg(g, y, 1)),
    batch: aligned,
    print: (p, _a, [x, y]) => [`${p.wrap(x!, PREC.mul)}${p.tex ? ' \\, ' : ' @ '}${p.wrap(y!, PREC.mul + 1)}`, PREC.mul],
    // C_bij = Σ_t A_bit·B_btj, batch axes broadcast
    enclose: (k, g, y, X) => {
      const [sa, sb] = g.args(y).map((a) => g.shape(a)) as [number[], number[]];
      const M = sa[sa.length - 2]!, K = sa[sa.length - 1]!, N = sb[sb.length - 1]!;
      const batch = g.shape(y).slice(0, -2);
      const ba = broadcastIndex(sa.slice(0, -2), batch), bb = broadcastIndex(sb.slice(0, -2), batch);
      return k.product(X[0]!, X[1]!, g.sizeOf(y), (e, emit) => {
        const b = Math.floor(e / (M * N)), i = Math.floor((e % (M * N)) / N), j = e % N;
        const oa = ba[b]! * M * K, ob = bb[b]! * K * N;
        for (let t = 0; t < K; t++) emit(oa + i * K + t, ob + t * N + j);
      });
    },
  },
};

function range(n: number): number[] {
  return [...Array(n).keys()];
}

// ------------------------------------------------------------------ derived

const ALL_OPS = Object.keys(PRIMITIVES) as Op[];

/** The unary and binary elementwise ops, in the registry's order. */
export const UNARY_OPS: readonly UnaryOp[] = ALL_OPS.filter((op): op is UnaryOp => PRIMITIVES[op].kind === 'unary');
export const BINARY_OPS: readonly BinaryOp[] = ALL_OPS.filter((op): op is BinaryOp => PRIMITIVES[op].kind === 'binary');

export const isUnary = (op: Op): op is UnaryOp => PRIMITIVES[op].kind === 'unary';
export const isBinary = (op: Op): op is BinaryOp => PRIMITIVES[op].kind === 'binary';

/** A unary op's scalar function as an inline JavaScript expression over `x` (see ScalarFunction.code). */
export function unaryCode(op: UnaryOp, x: string): string {
  const s = PRIMITIVES[op].scalar;
  if (s.code) return s.code(x);
  const name = s.f.name;
  return (Math as unknown as Record<string, unknown>)[name] === s.f ? `Math.${name}(${x})` : `S.${op}(${x})`;
}

/** The scalar functions by op, the `S` that generated code calls (see `unaryCode`). */
export const SCALAR_FUNCTIONS: Readonly<Record<UnaryOp, (x: number) => number>> = Object.fromEntries(
  UNARY_OPS.map((op) => [op, PRIMITIVES[op].scalar.f]),
) as Record<UnaryOp, (x: number) => number>;

/**
 * The end of a switch over ops that must handle every case: `x` has type never when the
 * switch is exhaustive, so a new op makes it a compile error.
 */
export function unreachable(x: never, what = 'op'): never {
  throw new Error(`internal: unhandled ${what} '${String(x)}'`);
}
