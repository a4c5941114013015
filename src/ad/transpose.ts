/**
 * Reverse mode by linearize-and-transpose.
 *
 * A JVP graph is linear in its tangent inputs (see the invariant in `jvp.ts`). Transposing that
 * linear map L gives the vector–Jacobian product: for a cotangent ū of the outputs,
 * ⟨ū, L v⟩ = ⟨Lᵀ ū, v⟩ for every v. Only the linear ops need a transpose rule; everything else in
 * the graph is a primal coefficient, reused as is. Rules emit nodes, so VJPs nest like JVPs. The
 * rules are the registry's (`ir/ops.ts`); this file is the traversal.
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import { PRIMITIVES } from '../ir/ops.ts';
import { jvp } from './jvp.ts';

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
    const rule = PRIMITIVES[g.op(n)].transpose;
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
