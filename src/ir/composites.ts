/**
 * Elementwise functions of the language built from primitives. A function becomes a primitive
 * only when composing it would be numerically unstable (tanh, softplus, erf are primitives:
 * (e^{2x}−1)/(e^{2x}+1) and log(1+e^x) overflow; erf has no elementary form).
 *
 * Every composite is smooth exactly where its formula is; relu and abs use `sign`, so results
 * that assume smoothness (Lip(Dh), the bounds) can detect them in the graph.
 */
import type { Graph, NodeId } from './graph.ts';

export type Composite = (g: Graph, x: NodeId) => NodeId;

/**
 * sigmoid(x) = 1/(1+e^{−x}) written as ½ + ½·tanh(x/2), which never overflows and whose
 * derivatives (through tanh' = 1 − tanh²) stay finite for every x.
 */
export function sigmoid(g: Graph, x: NodeId): NodeId {
  const half = g.constant(0.5);
  return g.add(half, g.mul(half, g.tanh(g.mul(half, x))));
}

/** The elementwise functions callable in `.ntk` files, by name. */
export const ELEMENTWISE: Record<string, Composite> = {
  exp: (g, x) => g.exp(x),
  log: (g, x) => g.log(x),
  sin: (g, x) => g.sin(x),
  cos: (g, x) => g.cos(x),
  tan: (g, x) => g.div(g.sin(x), g.cos(x)),
  tanh: (g, x) => g.tanh(x),
  erf: (g, x) => g.erf(x),
  softplus: (g, x) => g.softplus(x),
  sign: (g, x) => g.sign(x),
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
