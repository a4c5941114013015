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
 * The rules are the registry's (`ir/ops.ts`, one entry per op); this file is the traversal.
 *
 * Invariant used by `transpose.ts`: every node a rule emits is linear in the tangents — each
 * term is a tangent combined with primal (tangent-free) coefficients by an op that is linear in
 * that argument (`PRIMITIVES[op].linearity`); no term multiplies two tangents.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { PRIMITIVES } from '../ir/ops.ts';
import type { Tangent } from '../ir/rules.ts';

export type { Tangent };

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
    tan.set(n, t.every((ti) => ti === null) ? null : PRIMITIVES[g.op(n)].jvp(g, n, x, t));
  }
  return outputs.map((o) => tan.get(o) ?? g.zeros(g.shape(o)));
}
