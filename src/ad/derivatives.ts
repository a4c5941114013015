/**
 * Derivatives of a model h: R^p → R^k as graphs, with the weights seen as one flat vector
 * w ∈ R^p (parameters in declaration order, row-major) and the outputs as one flat vector in
 * R^k. Everything here builds graph nodes; `evaluator/evaluator.ts` turns them into numbers.
 *
 *  - `jvpFlat`:   v ↦ Dh(w)·v            (forward mode)
 *  - `vjpFlat`:   u ↦ Dh(w)ᵀ·u           (reverse mode, linearize-and-transpose)
 *  - `directional`: D^k h(w)[v1, …, vk]  (nested forward mode, any order)
 *  - `lossGraph`, `gradLoss`, `hvpLoss`: L(w) = R(α·h(w)), ∇L, ∇²L·v
 *  - `outputHvp`: (u, v) ↦ D²h(w)[v, ·]ᵀ·u  (forward over reverse)
 */
import type { Graph, NodeId } from '../ir/graph.ts';
import type { Model, ParamInfo } from '../ir/model.ts';
import { sizeOf } from '../ir/shape.ts';
import { jvp } from './jvp.ts';
import { vjp } from './transpose.ts';

/** Split a flat vector node v ∈ R^p into one node per parameter, shaped like it. */
export function splitFlat(g: Graph, v: NodeId, params: ParamInfo[]): NodeId[] {
  return params.map((q) => g.reshape(g.slice(v, [q.offset], [q.offset + q.size]), q.shape));
}

/** Concatenate per-parameter nodes into one flat vector in R^p. */
export function joinFlat(g: Graph, parts: NodeId[]): NodeId {
  return g.concat(parts.map((x) => g.reshape(x, [sizeOf(g.shape(x))])), 0);
}

/** The model output as a flat vector h(w) ∈ R^k. */
export function flatOutput(m: Model): NodeId {
  return m.graph.reshape(m.output, [sizeOf(m.outputShape)]);
}

/**
 * Forward mode: returns (v, Dh(w)·v) with v a fresh tangent input of shape [p] and the result
 * of shape [k].
 * @example const { v, out } = jvpFlat(model); // compile `out`, bind v, get J·v
 */
export function jvpFlat(m: Model, of: NodeId = flatOutput(m)): { v: NodeId; out: NodeId } {
  const g = m.graph;
  const v = g.fresh('tangent', [m.paramCount], 'v');
  const parts = splitFlat(g, v, m.params);
  const [out] = jvp(g, [of], new Map(m.params.map((q, i) => [q.node, parts[i]!])));
  return { v, out: out! };
}

/**
 * Reverse mode: returns (u, Dh(w)ᵀ·u) with u a fresh cotangent input of the output's flat shape
 * [k] and the result of shape [p].
 * @example const { u, out } = vjpFlat(model)   // out = Dh(w)ᵀ·u as a graph node [p]
 */
export function vjpFlat(m: Model, of: NodeId = flatOutput(m)): { u: NodeId; out: NodeId } {
  const g = m.graph;
  const u = g.fresh('cotangent', g.shape(of), 'u');
  const grads = vjp(g, [of], [u], m.params.map((q) => q.node));
  return { u, out: joinFlat(g, grads) };
}

/**
 * The k-th directional derivative D^k h(w)[v1, …, vk] ∈ R^k by nesting forward mode k times:
 * D^k h[v1..vk] = d/dt_k … d/dt_1 h(w + t1 v1 + … + tk vk) at t = 0.
 *
 * @returns the tangent inputs v1..vk (each of shape [p]) and the output node (shape [k]).
 * @example
 *   // h(w) = a·w + b·w²/2 has D²h[v1, v2] = b·v1·v2 and D³h = 0.
 *   const { vs, out } = directional(model, 2);
 */
export function directional(m: Model, order: number, of: NodeId = flatOutput(m)): { vs: NodeId[]; out: NodeId } {
  const g = m.graph;
  const vs: NodeId[] = [];
  let cur = of;
  for (let i = 0; i < order; i++) {
    const v = g.fresh('tangent', [m.paramCount], `v${i + 1}_`);
    const parts = splitFlat(g, v, m.params);
    [cur] = jvp(g, [cur], new Map(m.params.map((q, j) => [q.node, parts[j]!])));
    vs.push(v);
  }
  return { vs, out: cur };
}

/**
 * The training loss L(w) = R(α·h(w)) as a scalar node, with α a fresh input (role 'var') so that
 * one graph serves every α. Square loss: R(v) = ½‖v − y*‖².
 * @example const { alpha, value } = lossGraph(model)   // value = R(α·h(w)), α bound at run time
 */
export function lossGraph(m: Model): { alpha: NodeId; value: NodeId } {
  const g = m.graph;
  if (!m.loss) throw new Error('the model declares no loss');
  const alpha = g.input('alpha', 'var', []);
  const v = g.mul(alpha, m.output);
  if (m.loss.kind === 'square') {
    const r = g.sub(v, m.loss.target);
    return { alpha, value: g.mul(g.constant(0.5), g.sumAll(g.mul(r, r))) };
  }
  return { alpha, value: substitute(g, m.loss.value, m.loss.v, v) };
}

/** Replace input `from` by node `to` (same shape) in the cone of `root`. */
export function substitute(g: Graph, root: NodeId, from: NodeId, to: NodeId): NodeId {
  return g.rewrite([root], new Map([[from, to]]))[0]!;
}

/**
 * ∇_w L as a flat node [p] (L from `lossGraph`).
 *
 * For L(w) = R(α·h(w)): ∇L = α·Dh(w)ᵀ ∇R(α·h(w)).
 * @example const { grad } = gradLoss(model)   // a node [p]
 */
export function gradLoss(m: Model): { alpha: NodeId; value: NodeId; grad: NodeId } {
  const g = m.graph;
  const { alpha, value } = lossGraph(m);
  const grads = vjp(g, [value], [g.constant(1)], m.params.map((q) => q.node));
  return { alpha, value, grad: joinFlat(g, grads) };
}

/**
 * Hessian-vector product ∇²L(w)·v by forward-over-reverse: the JVP of the gradient graph.
 * @returns the tangent input v [p] and the product [p].
 * @example const { v, out } = hvpLoss(model)   // out = ∇²L(w)·v as a graph node [p]
 */
export function hvpLoss(m: Model): { alpha: NodeId; v: NodeId; out: NodeId } {
  const { alpha, grad } = gradLoss(m);
  const { v, out } = jvpFlat(m, grad);
  return { alpha, v, out };
}

/**
 * The Hessian of ⟨u, h⟩ times v, D²h(w)[v, ·]ᵀ·u = Σ_i u_i ∇²h_i(w)·v ∈ R^p, by forward over
 * reverse: the JVP along v of the VJP graph Dh(w)ᵀ·u. The lazy flow (`flow-lazy.ts`) reads
 * (Dh(w) − Dh(w0))ᵀ·u through it without the cancellation of the difference.
 * @returns the cotangent input u [k], the tangent input v [p] and the product [p].
 * @example const { u, v, out } = outputHvp(model)   // h = b·w²/2: out = b·v·u
 */
export function outputHvp(m: Model): { u: NodeId; v: NodeId; out: NodeId } {
  const { u, out: pullback } = vjpFlat(m);
  const { v, out } = jvpFlat(m, pullback);
  return { u, v, out };
}
