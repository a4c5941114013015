/**
 * Batching (vmap) as a graph → graph transform.
 *
 * `vmap(g, outputs, batched, prefix)` rebuilds the cone of `outputs` with some inputs replaced by
 * batched versions: an input x of shape S is replaced by a node of shape [...prefix, ...S], and
 * every node that depends on it gets the same leading axes, meaning "this node, once per batch
 * index". Nodes that do not depend on a batched input are shared, not copied.
 *
 * The per-op batch rules are small because every primitive either works elementwise with numpy
 * broadcasting (align ranks by inserting size-1 axes after the prefix), or takes attributes that
 * describe axes, which shift by the prefix length. The transform is how one graph computes many
 * tangents or cotangents at once (Jacobians in blocks, kernels of higher order).
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Attrs, Op } from '../ir/ops.ts';

/** A node of the batched graph: its id, and whether it carries the batch prefix. */
interface BVal {
  id: NodeId;
  batched: boolean;
}

type BatchRule = (g: Graph, y: NodeId, x: BVal[], prefix: number[]) => NodeId;

const range = (n: number) => [...Array(n).keys()];

/** Reshape a batched value of logical shape `s` to [...prefix, 1…1, ...s] of logical rank r. */
function lift(g: Graph, v: NodeId, prefix: number[], logical: number[], rank: number): NodeId {
  if (logical.length >= rank) return v;
  return g.reshape(v, [...prefix, ...Array(rank - logical.length).fill(1), ...logical]);
}

/** Elementwise ops and matmul: align the batched operands' ranks, then apply as is. */
const aligned: BatchRule = (g, y, x, prefix) => {
  const logical = g.args(y).map((a) => g.shape(a));
  const rank = Math.max(...logical.map((s) => s.length));
  const ins = x.map((v, k) => (v.batched ? lift(g, v.id, prefix, logical[k]!, rank) : v.id));
  return g.apply(g.op(y), ins, g.attrs(y));
};

const shifted =
  (f: (a: Attrs, p: number, prefix: number[]) => Attrs): BatchRule =>
  (g, y, x, prefix) =>
    g.apply(g.op(y), x.map((v) => v.id), f(g.attrs(y), prefix.length, prefix));

const leafRule: BatchRule = () => {
  throw new Error('internal: leaves are never batched by a rule');
};

export const BATCH_RULES: Record<Op, BatchRule> = {
  input: leafRule,
  const: leafRule,
  literal: leafRule,
  neg: aligned,
  exp: aligned,
  log: aligned,
  sin: aligned,
  cos: aligned,
  tanh: aligned,
  erf: aligned,
  softplus: aligned,
  sign: aligned,
  add: aligned,
  sub: aligned,
  mul: aligned,
  div: aligned,
  pow: aligned,
  matmul: aligned,
  broadcast: (g, y, [x], prefix) => {
    const target = g.attrs(y).shape!;
    const lifted = lift(g, x!.id, prefix, g.shape(g.args(y)[0]!), target.length);
    return g.broadcast(lifted, [...prefix, ...target]);
  },
  sum: shifted((a, p) => ({ axes: a.axes!.map((ax) => ax + p) })),
  reshape: shifted((a, _p, prefix) => ({ shape: [...prefix, ...a.shape!] })),
  transpose: shifted((a, p) => ({ perm: [...range(p), ...a.perm!.map((q) => q + p)] })),
  slice: shifted((a, p, prefix) => ({ starts: [...Array(p).fill(0), ...a.starts!], ends: [...prefix, ...a.ends!] })),
  pad: shifted((a, p, prefix) => ({ starts: [...Array(p).fill(0), ...a.starts!], shape: [...prefix, ...a.shape!] })),
  concat: (g, y, x, prefix) => {
    const ins = x.map((v) => (v.batched ? v.id : g.broadcast(v.id, [...prefix, ...g.shape(v.id)])));
    return g.concat(ins, g.attrs(y).axis! + prefix.length);
  },
};

/**
 * @param batched input node → its batched replacement, of shape [...prefix, ...shape(input)].
 * @returns for each output, a node of shape [...prefix, ...shape(output)] (outputs that do not
 *   depend on a batched input are broadcast).
 * @example
 *   // J·v for 8 tangents at once: vmap the JVP over its tangent input.
 *   const [jv] = jvp(g, [h], new Map([[w, v]]));
 *   const V = g.fresh('tangent', [8, ...g.shape(w)]);
 *   const [JV] = vmap(g, [jv], new Map([[v, V]]), [8]);   // shape [8, ...shape(h)]
 */
export function vmap(g: Graph, outputs: NodeId[], batched: Map<NodeId, NodeId>, prefix: number[]): NodeId[] {
  const val = new Map<NodeId, BVal>();
  for (const n of g.cone(outputs)) {
    const replaced = batched.get(n);
    if (replaced !== undefined) {
      val.set(n, { id: replaced, batched: true });
      continue;
    }
    const x = g.args(n).map((a) => val.get(a)!);
    if (x.every((v) => !v.batched)) {
      val.set(n, { id: n, batched: false });
      continue;
    }
    val.set(n, { id: BATCH_RULES[g.op(n)](g, n, x, prefix), batched: true });
  }
  return outputs.map((o) => {
    const v = val.get(o)!;
    return v.batched ? v.id : g.broadcast(o, [...prefix, ...g.shape(o)]);
  });
}
