/**
 * Forward-mode differentiation as a graph → graph transform.
 *
 * `jvp(g, outputs, tangents)` returns, for each output y = F(x), a node for the directional
 * derivative DF(x)[ẋ], where `tangents` maps some input nodes x to nodes ẋ of the same shape
 * (inputs not in the map have zero tangent). Rules emit graph nodes, never numbers, so the
 * result can be differentiated again: nesting `jvp` k times gives D^k F[v1, …, vk].
 *
 * A tangent is `null` when it is symbolically zero; rules skip zero terms, so derivative
 * graphs only contain what contributes.
 *
 * Invariant used by `transpose.ts`: every node a rule emits is linear in the tangents — each
 * term is a tangent combined with primal (tangent-free) coefficients by an op that is linear in
 * that argument (`OP_INFO[op].linearity`); no term multiplies two tangents.
 */
import { sigmoid } from '../ir/composites.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Op } from '../ir/ops.ts';

export type Tangent = NodeId | null;

/** A JVP rule: the tangent of node `y` given the tangents of its inputs. */
type JvpRule = (g: Graph, y: NodeId, x: NodeId[], t: Tangent[]) => Tangent;

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);

/** Tangent of a unary op with derivative `d(x, y)` (chain rule: ẏ = f'(x)·ẋ). */
const chain =
  (d: (g: Graph, x: NodeId, y: NodeId) => NodeId): JvpRule =>
  (g, y, [x], [t]) =>
    t === null ? null : g.mul(d(g, x!, y), t);

/** Apply a structural (linear, unary) op to the tangent: ẏ = op(ẋ). */
const same: JvpRule = (g, y, _x, [t]) => (t === null ? null : g.apply(g.op(y), [t], g.attrs(y)));

const leaf: JvpRule = () => null;

/** Sum of terms (null = zero) broadcast to the output's shape. */
function total(g: Graph, y: NodeId, terms: Tangent[]): Tangent {
  const live = terms.filter((t): t is NodeId => t !== null);
  if (live.length === 0) return null;
  return g.addAll(live, g.shape(y));
}

export const JVP_RULES: Record<Op, JvpRule> = {
  input: leaf,
  const: leaf,
  literal: leaf,
  neg: (g, _y, _x, [t]) => (t === null ? null : g.neg(t)),
  exp: chain((_g, _x, y) => y),
  log: (g, _y, [x], [t]) => (t === null ? null : g.div(t, x!)),
  sin: chain((g, x) => g.cos(x)),
  cos: chain((g, x) => g.neg(g.sin(x))),
  // tanh' = 1 − tanh²
  tanh: chain((g, _x, y) => g.sub(g.constant(1), g.mul(y, y))),
  // erf' = (2/√π)·e^{−x²}
  erf: chain((g, x) => g.mul(g.constant(TWO_OVER_SQRT_PI), g.exp(g.neg(g.mul(x, x))))),
  // softplus' = sigmoid
  softplus: chain((g, x) => sigmoid(g, x)),
  // sign' = 0 almost everywhere (the graph remembers that sign is non-smooth).
  sign: leaf,
  add: (g, y, _x, [ta, tb]) => total(g, y, [ta!, tb!]),
  sub: (g, y, _x, [ta, tb]) => total(g, y, [ta!, tb === null ? null : g.neg(tb!)]),
  mul: (g, y, [a, b], [ta, tb]) =>
    total(g, y, [ta === null ? null : g.mul(ta!, b!), tb === null ? null : g.mul(a!, tb!)]),
  // d(a/b) = ȧ/b − (a/b)·ḃ/b
  div: (g, y, [_a, b], [ta, tb]) =>
    total(g, y, [ta === null ? null : g.div(ta!, b!), tb === null ? null : g.neg(g.mul(g.div(y, b!), tb!))]),
  // d(a^b) = b·a^(b−1)·ȧ + log(a)·a^b·ḃ  (the second term only when b varies)
  pow: (g, y, [a, b], [ta, tb]) =>
    total(g, y, [
      ta === null ? null : g.mul(g.mul(b!, g.pow(a!, g.sub(b!, g.constant(1)))), ta!),
      tb === null ? null : g.mul(g.mul(g.log(a!), y), tb!),
    ]),
  broadcast: same,
  sum: same,
  reshape: same,
  transpose: same,
  slice: same,
  pad: same,
  concat: (g, y, x, t) => {
    if (t.every((ti) => ti === null)) return null;
    return g.concat(x.map((xi, i) => t[i] ?? g.zeros(g.shape(xi))), g.attrs(y).axis!);
  },
  matmul: (g, y, [a, b], [ta, tb]) =>
    total(g, y, [ta === null ? null : g.matmul(ta!, b!), tb === null ? null : g.matmul(a!, tb!)]),
};

/**
 * Forward-mode derivative: ẏ = DF(x)[ẋ] for each output.
 *
 * @param tangents input node → tangent node (same shape); other inputs are held fixed.
 * @returns one tangent node per output (a zeros node where the output does not depend on any
 *   tangent input).
 * @example
 *   const w = g.input('w', 'param', []);
 *   const h = g.mul(w, w);                  // h = w²
 *   const v = g.fresh('tangent', []);
 *   const [dh] = jvp(g, [h], new Map([[w, v]]));   // dh = 2·w·v (as a graph)
 */
export function jvp(g: Graph, outputs: NodeId[], tangents: Map<NodeId, NodeId>): NodeId[] {
  const tan = new Map<NodeId, Tangent>();
  for (const n of g.cone(outputs)) {
    const given = tangents.get(n);
    if (given !== undefined) {
      tan.set(n, given);
      continue;
    }
    const x = g.args(n);
    if (x.length === 0) {
      tan.set(n, null);
      continue;
    }
    const t = x.map((i) => tan.get(i) ?? null);
    tan.set(n, t.every((ti) => ti === null) ? null : JVP_RULES[g.op(n)](g, n, x, t));
  }
  return outputs.map((o) => tan.get(o) ?? g.zeros(g.shape(o)));
}
