/**
 * ntk-lab's public API: the one surface that the command line and scripts use.
 *
 * @example
 *   import { loadModel, evaluate, jacobian, ntk } from 'ntk-lab';
 *   const model = loadModel('examples/converse.ntk', { overrides: new Map([['T', 1000]]) });
 *   const h = evaluate(model);            // h(w0), flattened
 *   const J = jacobian(model);            // { rows: k, cols: p, data } row-major
 *   const K = ntk(model);                 // { rows: k, cols: k, data } = J Jᵀ
 */
import type { ElaborateOptions } from './ir/elaborate.ts';
import { compile, loadModel, parse } from './ir/load.ts';
import type { Model } from './ir/model.ts';
import { Evaluator, type JacobianOptions } from './runtime/evaluator.ts';
import { ntkFromJacobian } from './nth/ntk.ts';
import { printGraph } from './ir/print.ts';
import { jvp as jvpGraph } from './ad/jvp.ts';
import { vjp as vjpGraph } from './ad/transpose.ts';

export type { Model, ParamInfo, DataInfo, Loss } from './ir/model.ts';
export type { Program } from './parser/ast.ts';
export { NtkError, formatDiagnostic, type Diagnostic } from './parser/diagnostics.ts';
export { Graph, type NodeId } from './ir/graph.ts';
export { Evaluator, MemoryError, type JacobianOptions } from './runtime/evaluator.ts';
export { compile as compilePlan, Plan } from './runtime/compile.ts';
export { jvpGraph };
export { vjpGraph };
export { transposeLinear } from './ad/transpose.ts';
export { vmap } from './ad/vmap.ts';
export { directional as directionalGraph, jvpFlat, vjpFlat, gradLoss, hvpLoss, lossGraph } from './ad/derivatives.ts';
export { printGraph } from './ir/print.ts';
export { flow, FlowError, type FlowOptions, type FlowResult, type FlowPoint, type FlowMethod } from './dynamics/flow.ts';
export { boundsReport, kappa, type Bound, type BoundsReport, type BoundInputs } from './dynamics/bounds.ts';
export { LinearizedFlow, kernelSpectrum, symmetricEigen } from './dynamics/linearized.ts';
export { gradientDescent, type DescentOptions, type DescentResult } from './dynamics/descent.ts';
export { parseProgram } from './parser/index.ts';
export { lipschitz, LipUsageError, certifiedBounds, type LipOptions, type LipResult, type LipEstimate, type EnclosureResult } from './lip/index.ts';
export { availableBackends, defaultBackend } from './runtime/backends.ts';
export type { Backend } from './runtime/backend.ts';

/** A dense row-major matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

export interface CompileOptions extends ElaborateOptions {}
export { parse, compile, loadModel };

const evaluators = new WeakMap<Model, Evaluator>();

/** The (cached) evaluator of a model: compiled plans for its derivative graphs. */
export function evaluator(model: Model): Evaluator {
  let ev = evaluators.get(model);
  if (!ev) {
    ev = new Evaluator(model);
    evaluators.set(model, ev);
  }
  return ev;
}

/** h(w) ∈ R^k (flattened), at w0 by default. */
export function evaluate(model: Model, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).output(w);
}

/**
 * The Jacobian Dh(w) (k×p): row a is ∇h_a(w), columns in the flattened parameter order.
 * @example jacobian(model).data[a * model.paramCount + j] // ∂h_a/∂w_j
 */
export function jacobian(model: Model, w: Float64Array = model.w0, opts: JacobianOptions = {}): Matrix {
  const ev = evaluator(model);
  return { rows: ev.k, cols: ev.p, data: ev.jacobian(w, opts) };
}

/** Dh(w)·v ∈ R^k. */
export function jvp(model: Model, v: Float64Array, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).jvp(w, v);
}

/** Dh(w)ᵀ·u ∈ R^p. */
export function vjp(model: Model, u: Float64Array, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).vjp(w, u);
}

/** D^k h(w)[v1, …, vk] ∈ R^k, k = vs.length (nested forward mode). */
export function directionalDerivative(model: Model, vs: Float64Array[], w: Float64Array = model.w0): Float64Array {
  return evaluator(model).directional(w, vs);
}

/** The loss L(w) = R(α·h(w)) of the model's declared loss. */
export function loss(model: Model, opts: { alpha?: number; w?: Float64Array } = {}): number {
  return evaluator(model).loss(opts.w ?? model.w0, opts.alpha ?? 1);
}

/** ∇²L(w)·v for L(w) = R(α·h(w)) (forward-over-reverse). */
export function hvp(model: Model, v: Float64Array, opts: { alpha?: number; w?: Float64Array } = {}): Float64Array {
  return evaluator(model).hvp(opts.w ?? model.w0, v, opts.alpha ?? 1);
}

/**
 * The empirical NTK K(w) = Dh(w)·Dh(w)ᵀ (k×k), symmetric.
 * @example ntk(model).data[a * k + b] // ⟨∇h_a, ∇h_b⟩
 */
export function ntk(model: Model, w: Float64Array = model.w0, opts: JacobianOptions = {}): Matrix {
  const ev = evaluator(model);
  return { rows: ev.k, cols: ev.k, data: ntkFromJacobian(ev, ev.jacobian(w, opts)) };
}

/**
 * The model as mathematics; with `derivative`, also Dh(w)·v and Dh(w)ᵀ·u.
 * @example printModel(loadModel('examples/converse.ntk')) // "h = 0.1*w + w^2"
 */
export function printModel(model: Model, opts: { derivative?: boolean } = {}): string {
  const g = model.graph;
  const roots: [string, number][] = [[model.outputName, model.output]];
  if (opts.derivative) {
    // Tangents named after the parameters (dw for w), the cotangent u shaped like the output.
    const tangents = new Map(model.params.map((q) => [q.node, g.input(`d${q.name}`, 'tangent', q.shape)]));
    const [dh] = jvpGraph(g, [model.output], tangents);
    roots.push([`d${model.outputName}`, dh!]);
    const u = g.input('u', 'cotangent', model.outputShape);
    const grads = vjpGraph(g, [model.output], [u], model.params.map((q) => q.node));
    model.params.forEach((q, i) => roots.push([`D${model.outputName}ᵀu[${q.name}]`, grads[i]!]));
  }
  return printGraph(g, roots);
}
