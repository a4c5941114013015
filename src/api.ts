/**
 * The model-level calls of the public API (re-exported by `src/index.ts`): a model's cached
 * evaluator, h, its derivatives, the loss, kernels of every order and their mathematics. The
 * studies (`src/studies/`) build the commands' reports from these.
 */
import type { ElaborateOptions } from './ir/elaborate.ts';
import type { Model } from './ir/model.ts';
import { Evaluator, type JacobianOptions } from './evaluator/evaluator.ts';
import { ntkFromJacobian } from './linalg/dense.ts';
import { printGraph } from './ir/print.ts';
import { jvp as jvpGraph } from './ad/jvp.ts';
import { vjp as vjpGraph } from './ad/transpose.ts';
import { deriveKernel, deriveRowKernel, kernelHierarchy, kernelTensor, type KernelOptions, type KernelTensor } from './nth/hierarchy.ts';
import { tidy } from './ir/simplify.ts';
import { truncatedHierarchy, type TruncatedOptions, type TruncatedResult } from './nth/truncated.ts';

/** A dense row-major matrix. */
export interface Matrix {
  rows: number;
  cols: number;
  data: Float64Array;
}

/** Options of `compile`: `--set` overrides, the seed, the directory data files load from. */
export interface CompileOptions extends ElaborateOptions {}

const evaluators = new WeakMap<Model, Evaluator>();

/**
 * The (cached) evaluator of a model: the compiled plans of h and of its derivative graphs, built
 * on first use and shared by every call on the same model.
 * @example const ev = evaluator(model); ev.k; ev.p // outputs k, parameters p
 */
export function evaluator(model: Model): Evaluator {
  let ev = evaluators.get(model);
  if (!ev) {
    ev = new Evaluator(model);
    evaluators.set(model, ev);
  }
  return ev;
}

/**
 * The model's outputs h(w) ∈ R^k (flattened row-major), at w0 by default.
 * @example evaluate(parseModel('param w = 0.3\nmodel h = sin(w)'))   // Float64Array [sin 0.3]
 */
export function evaluate(model: Model, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).output(w);
}

/**
 * g(w) ∈ R^kt: the test outputs of `test NAME = expr` (the model on held-out inputs, flattened),
 * at w0 by default. Throws when the model declares no test outputs.
 * @example evaluateTest(loadModel('examples/meanfield-test.ntk')) // f_0(x)/√n on each row of Xt
 */
export function evaluateTest(model: Model, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).testOutput(w);
}

/**
 * The square loss on the held-out inputs, ½‖α·g(w) − y_t‖², for `test …, target = y_t`; null
 * when the test declaration has no target (or there is none).
 * @example testLoss(model, { alpha: 1 }) // ½ Σ_i (g_i(w0) − y_t,i)²
 */
export function testLoss(model: Model, opts: { alpha?: number; w?: Float64Array } = {}): number | null {
  const ev = evaluator(model);
  const yt = model.test ? ev.testTarget() : null;
  if (!yt) return null;
  const g = ev.testOutput(opts.w ?? model.w0);
  const alpha = opts.alpha ?? 1;
  let s = 0;
  for (let i = 0; i < g.length; i++) s += (alpha * g[i]! - yt[i]!) ** 2;
  return 0.5 * s;
}

/**
 * The Jacobian Dh(w) (k×p): row a is ∇h_a(w), columns in the flattened parameter order.
 * @example jacobian(model).data[a * model.paramCount + j] // ∂h_a/∂w_j
 */
export function jacobian(model: Model, w: Float64Array = model.w0, opts: JacobianOptions = {}): Matrix {
  const ev = evaluator(model);
  return { rows: ev.k, cols: ev.p, data: ev.jacobian(w, opts) };
}

/**
 * The Jacobian-vector product Dh(w)·v ∈ R^k (forward mode; v ∈ R^p in the flattened parameter
 * order), at w0 by default: d/dε h(w + εv) at ε = 0.
 * @example jvp(model, v)[a]   // Σ_j ∂h_a/∂w_j · v_j
 */
export function jvp(model: Model, v: Float64Array, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).jvp(w, v);
}

/**
 * The vector-Jacobian product Dh(w)ᵀ·u ∈ R^p (reverse mode; u ∈ R^k), at w0 by default: the
 * gradient of ⟨u, h(w)⟩. With u = e_a it is ∇h_a(w), row a of the Jacobian.
 * @example vjp(model, Float64Array.of(1, 0, 0))   // ∇h_0(w0)
 */
export function vjp(model: Model, u: Float64Array, w: Float64Array = model.w0): Float64Array {
  return evaluator(model).vjp(w, u);
}

/**
 * The directional derivative of order j = vs.length, D^j h(w)[v1, …, vj] ∈ R^k (nested forward
 * mode): ∂^j/∂ε1…∂εj h(w + ε1 v1 + … + εj vj) at ε = 0. One direction gives `jvp`.
 * @example directionalDerivative(model, [v, v])   // D²h(w0)[v, v], the curvature of h along v
 */
export function directionalDerivative(model: Model, vs: Float64Array[], w: Float64Array = model.w0): Float64Array {
  return evaluator(model).directional(w, vs);
}

/**
 * The loss L(w) = R(α·h(w)) of the model's declared loss (`loss square(target = y)`:
 * R(v) = ½‖v − y‖²), at w0 and α = 1 by default.
 * @example loss(model, { alpha: 4 })   // R0 = R(4·h(w0))
 */
export function loss(model: Model, opts: { alpha?: number; w?: Float64Array } = {}): number {
  return evaluator(model).loss(opts.w ?? model.w0, opts.alpha ?? 1);
}

/**
 * The Hessian-vector product ∇²L(w)·v ∈ R^p for L(w) = R(α·h(w)) (forward over reverse mode),
 * at w0 and α = 1 by default. For the square loss,
 * ∇²L = α² DhᵀDh + α Σ_a (α h_a − y_a) ∇²h_a.
 * @example const curvature = dot(v, hvp(model, v, { alpha: 4 }))   // vᵀ∇²L v
 */
export function hvp(model: Model, v: Float64Array, opts: { alpha?: number; w?: Float64Array } = {}): Float64Array {
  return evaluator(model).hvp(opts.w ?? model.w0, v, opts.alpha ?? 1);
}

/**
 * The empirical NTK K(w) = Dh(w)·Dh(w)ᵀ (k×k), symmetric.
 * @example ntk(model).data[a * k + b] // ⟨∇h_a, ∇h_b⟩
 */
export function ntk(model: Model, w: Float64Array = model.w0, opts: JacobianOptions = {}): Matrix {
  const ev = evaluator(model);
  // Default options: `kernel`'s choice (the structured NTK of a large row-separable model);
  // any Jacobian option asks for J·Jᵀ of that Jacobian.
  if (Object.keys(opts).length === 0) return { rows: ev.k, cols: ev.k, data: kernelTensor(ev, 2, { w }).data };
  return { rows: ev.k, cols: ev.k, data: ntkFromJacobian(ev, ev.jacobian(w, opts)) };
}

/**
 * The model as mathematics; with `derivative`, also Dh(w)·v and Dh(w)ᵀ·u.
 * @example printModel(loadModel('examples/converse.ntk')) // "h = 0.1*w + w^2"
 */
export function printModel(model: Model, opts: { derivative?: boolean } = {}): string {
  const g = model.graph;
  const roots: [string, number][] = [[model.outputName, model.output]];
  if (model.test) roots.push([model.test.name, model.test.output]);
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

/**
 * The kernel of order r of the Neural Tangent Hierarchy at w (docs/math.md §3), on the outputs of h:
 * K^(2)(a, b) = ⟨∇h_a, ∇h_b⟩, K^(r+1)(a1..ar, b) = ⟨∇_w K^(r)(a1..ar), ∇h_b⟩. The full tensor
 * (k^r entries, row-major in a1..ar) or, with `slice: [a1..aj]`, K^(r)(a1..aj, ·, …, ·).
 * Throws MemoryError (naming the slice to use) when it would not fit.
 * @example kernel(model, 3).data[(a1 * k + a2) * k + b]   // K^(3)(a1, a2, b)
 */
export function kernel(model: Model, r: number, opts: KernelOptions = {}): KernelTensor {
  return kernelTensor(evaluator(model), r, opts);
}

/**
 * K^(2), …, K^(r) at w (full tensors): the initial values of the hierarchy's ODE (eq. 2.7).
 * @example const [K2, K3, K4] = hierarchy(model, 4);
 */
export function hierarchy(model: Model, r: number, opts: Omit<KernelOptions, 'slice'> = {}): KernelTensor[] {
  return kernelHierarchy(evaluator(model), r, opts);
}

/**
 * The kernel of order r as mathematics, tidied (`tidy`), with shared subexpressions named once;
 * plain text or LaTeX (an `aligned` environment). For a model with one output per data row,
 * K^(r)(X_1, …, X_r) as a function of r rows (`deriveRowKernel`); otherwise K^(r)[u1..ur], an
 * r-linear form of index vectors u_i ∈ R^k (`deriveKernel`; a function of w alone when k = 1).
 * @example printKernel(loadModel('examples/converse.ntk'), 3)   // "K3 = 4*(0.1 + 2*w)^2"
 */
export function printKernel(model: Model, r: number, opts: { latex?: boolean } = {}): string {
  return describeKernel(model, r, opts).text;
}

/**
 * `printKernel` with what its arguments are: 'rows' (K^(r)(X_1, …, X_r) on data rows),
 * 'vectors' (the r-linear form K^(r)[u1, …, ur]) or 'none' (one output: a function of w).
 * @example describeKernel(model, 3).form   // 'rows' for h = f(X)
 */
export function describeKernel(model: Model, r: number, opts: { latex?: boolean } = {}): { text: string; form: 'rows' | 'vectors' | 'none'; args: string[] } {
  const tex = opts.latex === true;
  const k = evaluator(model).k;
  const rows = k > 1 ? deriveRowKernel(model, r) : null;
  let value: number, args: string[], form: 'rows' | 'vectors' | 'none';
  if (rows) {
    value = rows.value;
    form = 'rows';
    args = rows.rows.map((ins) => ins.map((n) => model.graph.attrs(n).name!).join(' '));
  } else {
    value = deriveKernel(model, r).value;
    form = k === 1 ? 'none' : 'vectors';
    args = k === 1 ? [] : Array.from({ length: r }, (_, i) => `u${i + 1}`);
  }
  const [tidied] = tidy(model.graph, [value]);
  const texArg = (a: string) => a.replace(/^([A-Za-z]+)_?(\d+)$/, '$1_{$2}').replace(/_(\d+)$/, '_{$1}');
  const list = (tex ? args.map(texArg) : args).join(', ');
  const name = `${tex ? `K^{(${r})}` : `K${r}`}${form === 'rows' ? `(${list})` : form === 'vectors' ? `[${list}]` : ''}`;
  return { text: printGraph(model.graph, [[name, tidied!]], { latex: tex }), form, args };
}

/**
 * The truncated Neural Tangent Hierarchy of order p (eq. 2.7) for the flow of α·h, next to the
 * true flow: α·h̃(T), K̃^(2)(T), α·h(w(T)), K^(2)(w(T)) and the error between them.
 * @example const r = nth(model, 3, { T: 1 }); r.error
 */
export function nth(model: Model, p: number, opts: TruncatedOptions): TruncatedResult {
  return truncatedHierarchy(evaluator(model), p, opts);
}
