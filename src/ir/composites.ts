/**
 * Elementwise functions of the language built from primitives, one entry each. A function
 * becomes a primitive (an entry of `ops.ts`) only when composing it would be numerically
 * unstable (tanh, softplus, erf, atan are primitives: (e^{2x}−1)/(e^{2x}+1) and log(1+e^x)
 * overflow; erf and atan have no stable elementary form).
 *
 * Every composite is smooth exactly where its formula is; relu and abs use `sign`, so results
 * that assume smoothness (Lip(Dh), the bounds) can detect them in the graph.
 *
 * A composite's numeric twin (its value on a compile-time number, e.g. `const c = sqrt(2)`) is
 * derived: its graph evaluated on that number with the registry's scalar functions, the same
 * arithmetic as the kernels would do at run time.
 */
import { Graph, type NodeId } from './graph.ts';
import { PRIMITIVES, UNARY_OPS, isBinary, isUnary, logisticGraph } from './ops.ts';
import { symMul, type Provenance } from './symbols.ts';

export type Composite = (g: Graph, x: NodeId) => NodeId;

/**
 * sigmoid(x) = 1/(1+e^{−x}) written as ½ + ½·tanh(x/2), which never overflows and whose
 * derivatives (through tanh' = 1 − tanh²) stay finite for every x.
 */
export const sigmoid: Composite = logisticGraph;

/**
 * The node as the sigmoid composite σ(c·inner) (for printing composites as written): the graph
 * of `sigmoid` after folding is ½ + ½·tanh(k·inner) (or ½ + ½·tanh(u), k = 1), and c = 2k, with
 * k's provenance (named consts) when it has one. Null for any other node.
 */
export function asSigmoid(g: Graph, n: NodeId): { scale: { v: number; m: Provenance }; inner: NodeId } | null {
  if (g.op(n) !== 'add') return null;
  const [a, b] = g.args(n) as [NodeId, NodeId];
  const half = (x: NodeId) => g.constValue(x) === 0.5 && g.sizeOf(x) === 1 && !g.symOf(x);
  const t = half(a) ? b : half(b) ? a : null;
  if (t === null || g.op(t) !== 'mul') return null;
  const [h, th] = g.args(t) as [NodeId, NodeId];
  if (!half(h) || g.op(th) !== 'tanh') return null;
  const z = g.args(th)[0]!;
  if (g.op(z) === 'mul') {
    const [k, inner] = g.args(z) as [NodeId, NodeId];
    const kv = g.constValue(k);
    if (kv !== undefined && g.sizeOf(k) === 1) return { scale: { v: 2 * kv, m: symMul(undefined, 2, g.symOf(k), kv) }, inner };
  }
  return { scale: { v: 2, m: undefined }, inner: z };
}

/** The composites of the language, by name. */
export const COMPOSITES: Record<string, Composite> = {
  tan: (g, x) => g.div(g.sin(x), g.cos(x)),
  sqrt: (g, x) => g.pow(x, g.constant(0.5)),
  square: (g, x) => g.mul(x, x),
  sigmoid,
  sinh: (g, x) => g.mul(g.constant(0.5), g.sub(g.exp(x), g.exp(g.neg(x)))),
  cosh: (g, x) => g.mul(g.constant(0.5), g.add(g.exp(x), g.exp(g.neg(x)))),
  /** |x| = x·sign(x) (non-smooth at 0). */
  abs: (g, x) => g.mul(x, g.sign(x)),
  /** relu(x) = (x + |x|)/2 (non-smooth at 0; relu'(0) = ½). */
  relu: (g, x) => g.mul(g.constant(0.5), g.add(x, g.mul(x, g.sign(x)))),
  /** gelu(x) = x·Φ(x) = x·(1 + erf(x/√2))/2, exact (not the tanh approximation). */
  gelu: (g, x) => g.mul(g.mul(g.constant(0.5), x), g.add(g.constant(1), g.erf(g.mul(g.constant(Math.SQRT1_2), x)))),
  /** The Gaussian density φ(x) = e^{−x²/2}/√(2π). */
  gauss: (g, x) => g.mul(g.constant(1 / Math.sqrt(2 * Math.PI)), g.exp(g.mul(g.constant(-0.5), g.mul(x, x)))),
  identity: (_g, x) => x,
};

/**
 * The elementwise functions callable in `.ntk` files, by name: the unary primitives that have a
 * name in the language (derived from the registry), then the composites.
 */
export const ELEMENTWISE: Record<string, Composite> = {
  ...Object.fromEntries(UNARY_OPS.filter((op) => PRIMITIVES[op].language).map((op) => [op, (g: Graph, x: NodeId) => g.unary(op, x)])),
  ...COMPOSITES,
};

const twins = new Map<string, (x: number) => number>();

/**
 * The numeric twin of an elementwise function of the language: its graph on one number,
 * evaluated with the registry's scalar functions (no folding shortcuts, so a non-finite
 * intermediate gives what the kernels would give).
 * @example numericTwin('sigmoid')(0) // 0.5
 */
export function numericTwin(name: string): (x: number) => number {
  let twin = twins.get(name);
  if (twin) return twin;
  const build = ELEMENTWISE[name];
  if (!build) throw new Error(`internal: no elementwise function '${name}'`);
  const g = new Graph();
  const x = g.input('x', 'data', []);
  const y = build(g, x);
  const cone = g.cone([y]);
  twin = (v: number) => {
    const val = new Float64Array(g.size);
    for (const n of cone) {
      const op = g.op(n), a = g.args(n);
      if (n === x) val[n] = v;
      else if (op === 'const') val[n] = g.attrs(n).value!;
      else if (isUnary(op)) val[n] = PRIMITIVES[op].scalar.f(val[a[0]!]!);
      else if (isBinary(op)) val[n] = PRIMITIVES[op].f(val[a[0]!]!, val[a[1]!]!);
      else if (op === 'broadcast' || op === 'reshape') val[n] = val[a[0]!]!; // of a scalar: the same number
      else throw new Error(`internal: '${op}' in the scalar function '${name}'`);
    }
    return val[y]!;
  };
  twins.set(name, twin);
  return twin;
}
