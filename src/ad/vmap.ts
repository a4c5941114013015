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
 * tangents or cotangents at once (Jacobians in blocks, kernels of higher order). The rules are
 * the registry's (`ir/ops.ts`); this file is the traversal.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { PRIMITIVES } from '../ir/ops.ts';
import type { BVal } from '../ir/rules.ts';

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
    val.set(n, { id: PRIMITIVES[g.op(n)].batch(g, n, x, prefix), batched: true });
  }
  return outputs.map((o) => {
    const v = val.get(o)!;
    return v.batched ? v.id : g.broadcast(o, [...prefix, ...g.shape(o)]);
  });
}
