/**
 * Reverse mode by linearize-and-transpose.
 *
 * A JVP graph is linear in its tangent inputs (see the invariant in `jvp.ts`). Transposing that
 * linear map L gives the vector–Jacobian product: for a cotangent ū of the outputs,
 * ⟨ū, L v⟩ = ⟨Lᵀ ū, v⟩ for every v. Only the linear ops need a transpose rule; everything else in
 * the graph is a primal coefficient, reused as is. Rules emit nodes, so VJPs nest like JVPs.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Op } from '../ir/ops.ts';
import { jvp } from './jvp.ts';

/**
 * The cotangent of input `i` of the linear node `y`, given the cotangent `c` of `y` (a node of
 * y's shape). Only called for inputs that depend on the linear inputs.
 */
type TransposeRule = (g: Graph, y: NodeId, i: number, c: NodeId) => NodeId;

const arg = (g: Graph, y: NodeId, i: number) => g.args(y)[i]!;
const shapeOfArg = (g: Graph, y: NodeId, i: number) => g.shape(arg(g, y, i));

/** Ops that are not linear in any input have no rule: reaching one is a bug in a JVP rule. */
export const TRANSPOSE_RULES: Record<Op, TransposeRule | null> = {
  input: null,
  const: null,
  literal: null,
  exp: null,
  log: null,
  sin: null,
  cos: null,
  tanh: null,
  erf: null,
  softplus: null,
  sign: null,
  pow: null,
  neg: (g, _y, _i, c) => g.neg(c),
  add: (g, y, i, c) => g.sumTo(c, shapeOfArg(g, y, i)),
  sub: (g, y, i, c) => (i === 0 ? g.sumTo(c, shapeOfArg(g, y, 0)) : g.neg(g.sumTo(c, shapeOfArg(g, y, 1)))),
  // y = a·b, linear in the argument i with the other one (1−i) a coefficient.
  mul: (g, y, i, c) => g.sumTo(g.mul(arg(g, y, 1 - i), c), shapeOfArg(g, y, i)),
  div: (g, y, i, c) => {
    if (i !== 0) throw new Error('internal: division is linear in its numerator only');
    return g.sumTo(g.div(c, arg(g, y, 1)), shapeOfArg(g, y, 0));
  },
  broadcast: (g, y, _i, c) => g.sumTo(c, shapeOfArg(g, y, 0)),
  // y = Σ_axes x: x̄ = ȳ broadcast back along the summed axes.
  sum: (g, y, _i, c) => {
    const xs = shapeOfArg(g, y, 0);
    const axes = g.attrs(y).axes!;
    const kept = xs.map((d, k) => (axes.includes(k) ? 1 : d));
    return g.broadcast(g.reshape(c, kept), xs);
  },
  reshape: (g, y, _i, c) => g.reshape(c, shapeOfArg(g, y, 0)),
  transpose: (g, y, _i, c) => {
    const perm = g.attrs(y).perm!;
    const inv = new Array<number>(perm.length);
    perm.forEach((p, k) => (inv[p] = k));
    return g.transpose(c, inv);
  },
  slice: (g, y, _i, c) => g.pad(c, g.attrs(y).starts!, shapeOfArg(g, y, 0)),
  pad: (g, y, _i, c) => {
    const before = g.attrs(y).starts!;
    const xs = shapeOfArg(g, y, 0);
    return g.slice(c, before, before.map((b, k) => b + xs[k]!));
  },
  concat: (g, y, i, c) => {
    const axis = g.attrs(y).axis!;
    const args = g.args(y);
    let offset = 0;
    for (let k = 0; k < i; k++) offset += g.shape(args[k]!)[axis]!;
    const xs = g.shape(args[i]!);
    const starts = xs.map((_, k) => (k === axis ? offset : 0));
    const ends = xs.map((d, k) => (k === axis ? offset + d : g.shape(y)[k]!));
    return g.slice(c, starts, ends);
  },
  // y = a @ b: ā = ȳ @ bᵀ, b̄ = aᵀ @ ȳ, each summed over the batch axes it was broadcast along.
  matmul: (g, y, i, c) =>
    i === 0
      ? g.sumTo(g.matmul(c, g.swapLast(arg(g, y, 1))), shapeOfArg(g, y, 0))
      : g.sumTo(g.matmul(g.swapLast(arg(g, y, 0)), c), shapeOfArg(g, y, 1)),
};

/**
 * Transpose a linear map. `outputs` must be linear in `linear` (a JVP graph's tangent inputs).
 *
 * @returns for each linear input, the node Lᵀ ū (zeros where the outputs do not depend on it).
 * @example const [dw] = transposeLinear(g, [jv], [u], [v])   // Dhᵀu from the JVP graph jv = Dh·v
 */
export function transposeLinear(g: Graph, outputs: NodeId[], cotangents: NodeId[], linear: NodeId[]): NodeId[] {
  const cone = g.cone(outputs);
  const depends = new Set<NodeId>(linear);
  for (const n of cone) if (!depends.has(n) && g.args(n).some((a) => depends.has(a))) depends.add(n);

  const pending = new Map<NodeId, NodeId[]>();
  const push = (n: NodeId, c: NodeId) => {
    const list = pending.get(n);
    if (list) list.push(c);
    else pending.set(n, [c]);
  };
  outputs.forEach((o, k) => depends.has(o) && push(o, cotangents[k]!));

  const linearSet = new Set(linear);
  const result = new Map<NodeId, NodeId>();
  for (let k = cone.length - 1; k >= 0; k--) {
    const n = cone[k]!;
    const parts = pending.get(n);
    if (!depends.has(n) || !parts) continue;
    pending.delete(n);
    const c = g.addAll(parts, g.shape(n));
    if (linearSet.has(n)) {
      result.set(n, c);
      continue;
    }
    if (g.isZero(c)) continue;
    const rule = TRANSPOSE_RULES[g.op(n)];
    if (!rule) throw new Error(`internal: '${g.op(n)}' is not linear but depends on a tangent`);
    g.args(n).forEach((a, i) => {
      if (depends.has(a)) push(a, rule(g, n, i, c));
    });
  }
  return linear.map((l) => result.get(l) ?? g.zeros(g.shape(l)));
}

/**
 * Reverse-mode derivative (vector–Jacobian product): for F with outputs y and a cotangent ū per
 * output, returns x̄ = DF(x)ᵀ ū for each input in `wrt`.
 *
 * @example
 *   const w = g.input('w', 'param', [3]);
 *   const h = g.sumAll(g.mul(w, w));          // h = ‖w‖²
 *   const u = g.fresh('cotangent', []);
 *   const [gw] = vjp(g, [h], [u], [w]);       // gw = 2·w·u
 */
export function vjp(g: Graph, outputs: NodeId[], cotangents: NodeId[], wrt: NodeId[]): NodeId[] {
  const tangents = new Map<NodeId, NodeId>();
  const linear = wrt.map((x) => {
    const t = g.fresh('tangent', g.shape(x), 'lin');
    tangents.set(x, t);
    return t;
  });
  const dy = jvp(g, outputs, tangents);
  return transposeLinear(g, dy, cotangents, linear);
}
