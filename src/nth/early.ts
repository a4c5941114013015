/**
 * Early-time dynamics of a two-layer network next to its linear model (MATH.md §4; seed 004,
 * Hu, Xiao, Adlam & Pennington 2020).
 *
 * The network f(x) = vᵀφ(Wx/√d)/√m, trained by gradient descent on L = (1/2n) Σ_i (f(x_i) − y_i)²
 * with rate η1 on W and η2 on v (a rate 0 freezes its layer),
 *
 *   W ← W − η1 ∇_W L,   v ← v − η2 ∇_v L,
 *
 * is compared with the linear model f_lin(x) = β1ᵀψ1(x) + β2ᵀψ2(x), β = 0 at the start, trained by
 * gradient descent on (1/2n)‖Ψβ − y‖² with rate η1 on the first-layer features and η2 on the
 * second-layer ones, where, with g ~ N(0, 1) and Σ the empirical covariance of the inputs,
 *
 *   ζ = E[φ′(g)],  ν = E[gφ′(g)]·√(Tr Σ²/d),  ϑ0 = E[φ(g)],  ϑ1 = E[gφ′(g)],  ϑ2 = E[(½g³ − g)φ′(g)],
 *   ψ1(x) = (1/√d)[ζx; ν],
 *   ψ2(x) = [ζx/√d; ν/√(2d); ϑ0 + ϑ1(‖x‖/√d − 1) + ϑ2(‖x‖/√d − 1)²].
 *
 * The kernels: Θ1(W) = (φ′(XWᵀ/√d)φ′(XWᵀ/√d)ᵀ/m) ⊙ (XXᵀ/d) against Θ_lin1 = ψ1ψ1ᵀ =
 * (ζ²XXᵀ + ν²11ᵀ)/d; Θ2(W) = φ(XWᵀ/√d)φ(XWᵀ/√d)ᵀ/m against Θ_lin2 = ψ2ψ2ᵀ.
 *
 * The general theorem (seed 004, "closeness between two dynamics"): with J_H = Dh·H^{1/2} (the
 * rates in H) and K = Ψ_H Ψ_Hᵀ = η1ψ1ψ1ᵀ + η2ψ2ψ2ᵀ, if ‖J_H(θ)J_H(θ′)ᵀ − K‖ ≤ ε near θ(0), then
 * ‖u(t) − u_lin(t)‖ ≲ t·ε/√n (the rates are in ε; for one rate η this is η t ε/√n with the
 * unweighted kernels). `epsilon` is the largest ‖J_H(θ_s)J_H(θ_s′)ᵀ − K‖ over the pairs
 * (s, s′) ∈ {(s, s), (s, 0)} of the reported steps so far: a lower estimate of the ε of
 * Assumption 1 on a ball holding the trajectory.
 *
 * The two-layer form is recognised in the model's graph (W, v, X and φ read off it) and checked
 * numerically against the graph; the steps then use its closed-form gradients (two products
 * with X and one evaluation of φ, φ′ a step), and at every reported step the network's outputs
 * are compared with the model's own graph h(w) (an internal error past 1e-9), and the test
 * outputs are the graph's.
 */
import { ensureMemory } from '../runtime/memory.ts';
import type { Model, ParamInfo, DataInfo } from '../ir/model.ts';
import type { Graph, NodeId } from '../ir/graph.ts';
import { NtkError } from '../parser/diagnostics.ts';
import { Evaluator } from '../evaluator/evaluator.ts';
import { compile as compilePlan, type Plan } from '../runtime/compile.ts';
import { jvp as jvpGraph } from '../ad/jvp.ts';
import { printGraph } from '../ir/print.ts';
import { symmetricEigen } from '../linalg/dense.ts';
import { RateError, type Rates } from '../ir/rates.ts';
import { UNARY_OPS, BINARY_OPS, type UnaryOp } from '../ir/ops.ts';
import { defaultBackend } from '../runtime/backends.ts';
import { expect1 } from '../math/gaussian.ts';
import { VAR, cst, un, bin, derivative, toGaussFn, kinkPoints, jumpsAt, show, type SE, type SBinary } from './limit-scalar.ts';

// ------------------------------------------------------------------ recognising the form

/** An elementwise activation read from a model's graph, evaluated on arrays. */
export interface Activation {
  /** φ(z) as text, e.g. 'φ(z) = erf(z)'. */
  text: string;
  /** φ and φ′ at every element of z. */
  eval(z: Float64Array): { phi: Float64Array; dphi: Float64Array };
  /** The graph and the nodes of the scalar function: z (a scalar 'var' input), φ(z), φ′(z). */
  graph: Graph;
  z: NodeId;
  phi: NodeId;
  dphi: NodeId;
  /** φ uses a non-smooth function (relu, abs, sign): φ′ is a step. */
  nonSmooth: boolean;
  /**
   * φ as a scalar function of one Gaussian variable (the tree `src/nth/limit-scalar.ts` reads off
   * a graph for the infinite-width limit): what the Gaussian constants are computed from.
   */
  se: SE;
}

/** The two-layer form f(x) = vᵀφ(Wx/√d)/√m found in a model's graph. */
export interface TwoLayerForm {
  W: ParamInfo;
  v: ParamInfo;
  /** The training inputs (rows) and, with a `test` declaration of the same form, the test inputs. */
  X: DataInfo;
  Xt: DataInfo | null;
  n: number;
  d: number;
  m: number;
  nt: number;
  activation: Activation;
}

/** The model is not of the two-layer form: a model error (exit 1) saying what was found. */
function notTwoLayer(model: Model, why: string): never {
  throw new NtkError([{
    severity: 'error', file: model.file, span: null,
    message: `not a two-layer network f(x) = vᵀφ(Wx/√d)/√m: ${why}`,
    hint: "write it as 'param W : [m, d]', 'param v : [m]', 'def f(x : [d]) = dot(v, φ(W @ x / sqrt(d))) / sqrt(m)', 'model h = f(X)' with 'data X : [n, d]' and 'loss square(target = y)'",
  }]);
}

const isScalarConst = (g: Graph, n: NodeId) => g.op(n) === 'const';

/**
 * Strip constant factors off a node: mul/div by a `const` node, neg. Returns the node under them
 * and their product.
 */
function stripFactors(g: Graph, n: NodeId): { node: NodeId; factor: number } {
  let factor = 1;
  for (;;) {
    const op = g.op(n), a = g.args(n);
    if (op === 'mul' && isScalarConst(g, a[0]!)) (factor *= g.attrs(a[0]!).value!), (n = a[1]!);
    else if (op === 'mul' && isScalarConst(g, a[1]!)) (factor *= g.attrs(a[1]!).value!), (n = a[0]!);
    else if (op === 'div' && isScalarConst(g, a[1]!)) (factor /= g.attrs(a[1]!).value!), (n = a[0]!);
    else if (op === 'neg') (factor = -factor), (n = a[0]!);
    else return { node: n, factor };
  }
}

interface Readout {
  X: DataInfo;
  /** The hidden layer's node as a function of the pre-activation input `zin` (shape of XWᵀ). */
  hidden: NodeId;
  zin: NodeId;
  /** φ(z) = scale·hidden, z = XWᵀ/√d = zin. */
  scale: number;
}

/** Find h = c·Σ_r v_r G(z_ir) with z = XWᵀ/√d on one root (the training or the test outputs). */
function readout(model: Model, root: NodeId, rows: number, W: ParamInfo, v: ParamInfo, what: string): Readout {
  const g = model.graph;
  const [m, d] = W.shape as [number, number];
  const cone = g.cone([root]);
  const inCone = new Set(cone);
  // the first layer: matmul(X, transpose(W)), X a data input [rows, d]
  const mms = cone.filter((n) => g.op(n) === 'matmul' && g.args(n).some((a) => a === W.node || (g.op(a) === 'transpose' && g.args(a)[0] === W.node)));
  if (mms.length !== 1) notTwoLayer(model, `${what}: W enters ${mms.length === 0 ? 'no matrix product' : `${mms.length} matrix products`}; expected one, W @ x`);
  const M = mms[0]!;
  const [a0, a1] = g.args(M) as [NodeId, NodeId];
  if (!(g.op(a1) === 'transpose' && g.args(a1)[0] === W.node && g.op(a0) === 'input' && g.attrs(a0).role === 'data'))
    notTwoLayer(model, `${what}: the first layer is not X·Wᵀ for a data matrix X (write W @ x inside a function of one row x, and call it on X)`);
  const X = model.data.find((q) => q.node === a0)!;
  if (X.shape.length !== 2 || X.shape[0] !== rows || X.shape[1] !== d)
    notTwoLayer(model, `${what}: the inputs '${X.name}' have shape [${X.shape.join(', ')}], expected [${rows}, ${d}] (one row per output)`);
  // the pre-activation node P = s·XWᵀ: M's single consumer when it is a product with a constant
  const consumers = cone.filter((n) => g.args(n).includes(M));
  let P = M, s = 1;
  if (consumers.length === 1) {
    const c = consumers[0]!, a = g.args(c);
    if (g.op(c) === 'mul' && isScalarConst(g, a[0]!)) (P = c), (s = g.attrs(a[0]!).value!);
    else if (g.op(c) === 'mul' && isScalarConst(g, a[1]!)) (P = c), (s = g.attrs(a[1]!).value!);
    else if (g.op(c) === 'div' && isScalarConst(g, a[1]!)) (P = c), (s = 1 / g.attrs(a[1]!).value!);
  }
  // P = (s√d)·z: z itself when s√d is 1 to rounding (the usual W @ x / sqrt(d))
  const zScale = s * Math.sqrt(d);
  const zin = g.fresh('var', g.shape(P), 'z');
  const sub = Math.abs(zScale - 1) <= 8 * Number.EPSILON ? zin : g.mul(g.constant(zScale), zin);
  const [out] = g.rewrite([root], new Map([[P, sub]]));
  const outCone = new Set(g.cone([out!]));
  if (outCone.has(W.node)) notTwoLayer(model, `${what}: W is used outside the first layer W @ x`);
  if (outCone.has(X.node)) notTwoLayer(model, `${what}: the inputs '${X.name}' are used outside the first layer (a skip connection?)`);
  void inCone;
  // the readout: c·sum_r (v_r · G(z_r)) over the hidden axis
  let { node: S, factor: c } = stripFactors(g, out!);
  if (g.op(S) === 'reshape') S = g.args(S)[0]!;
  if (!(g.op(S) === 'sum' && g.shape(g.args(S)[0]!).length === 2 && g.attrs(S).axes?.length === 1 && g.attrs(S).axes![0] === 1))
    notTwoLayer(model, `${what}: the output is not a sum over the hidden units of v times the hidden layer (dot(v, φ(W @ x / sqrt(d))))`);
  const T = stripFactors(g, g.args(S)[0]!);
  c *= T.factor;
  if (g.op(T.node) !== 'mul') notTwoLayer(model, `${what}: the summand is not v times the hidden layer`);
  const dependsOn = (n: NodeId, x: NodeId) => g.cone([n]).includes(x);
  const [l, r] = g.args(T.node) as [NodeId, NodeId];
  const [vSide, hSide] = dependsOn(l, v.node) ? [l, r] : [r, l];
  if (dependsOn(hSide, v.node) || !dependsOn(vSide, v.node)) notTwoLayer(model, `${what}: v must multiply the hidden layer once, linearly`);
  const vs = stripFactors(g, vSide);
  c *= vs.factor;
  let vn = vs.node;
  while (g.op(vn) === 'broadcast' || g.op(vn) === 'reshape') vn = g.args(vn)[0]!;
  if (vn !== v.node) notTwoLayer(model, `${what}: the readout weights are not v itself (found a function of v)`);
  // the hidden layer: an elementwise function of z alone (scalar constants only)
  for (const n of g.cone([hSide])) {
    const op = g.op(n);
    if (n === zin || op === 'const') continue;
    if (op === 'input' || op === 'literal') notTwoLayer(model, `${what}: the hidden layer depends on '${g.attrs(n).name ?? 'an array'}' besides W x: every hidden unit must apply the same φ (no bias vector)`);
    if (!(UNARY_OPS as readonly string[]).includes(op) && !(BINARY_OPS as readonly string[]).includes(op))
      notTwoLayer(model, `${what}: the hidden layer is not an elementwise function of W x (it uses '${op}')`);
  }
  return { X, hidden: hSide, zin, scale: c * Math.sqrt(m) };
}

/** φ as a scalar function in the graph, and on arrays (one compiled plan per length). */
function activation(g: Graph, r: Readout): Activation {
  const build = (shape: number[]) => {
    const z = g.input(shape.length === 0 ? 'z' : `z[${shape[0]}]`, 'var', shape);
    const seed = new Map<NodeId, NodeId>([[r.zin, z]]);
    for (const n of g.cone([r.hidden])) if (g.op(n) === 'const') seed.set(n, g.constant(g.attrs(n).value!));
    const [G] = g.rewrite([r.hidden], seed);
    const phi = g.mul(g.constant(r.scale), G!);
    const [dphi] = jvpGraph(g, [phi], new Map([[z, g.constant(1, shape)]]));
    return { z, phi, dphi: dphi ?? g.zeros(shape) };
  };
  const scalar = build([]);
  const plans = new Map<number, { plan: Plan; z: NodeId }>();
  const nonSmooth = g.hasNonSmooth([scalar.phi]);
  // the same function as a scalar tree: z ↦ VAR, constants, the registry's unary and binary ops
  const memo = new Map<NodeId, SE>();
  const tree = (n: NodeId): SE => {
    if (n === r.zin) return VAR;
    const hit = memo.get(n);
    if (hit) return hit;
    const op = g.op(n), a = g.args(n);
    const e: SE = op === 'const' ? cst(g.attrs(n).value!) : a.length === 1 ? un(op as UnaryOp, tree(a[0]!)) : bin(op as SBinary, tree(a[0]!), tree(a[1]!));
    memo.set(n, e);
    return e;
  };
  const se = bin('mul', cst(r.scale), tree(r.hidden));
  return {
    text: printGraph(g, [['φ(z)', scalar.phi]]).trim(),
    graph: g, z: scalar.z, phi: scalar.phi, dphi: scalar.dphi, nonSmooth, se,
    eval(z: Float64Array) {
      let e = plans.get(z.length);
      if (!e) {
        const b = build([z.length]);
        e = { plan: compilePlan(g, [b.phi, b.dphi], { varying: [b.z], backend: defaultBackend() }), z: b.z };
        plans.set(z.length, e);
      }
      const [phi, dphi] = e.plan.run(new Map([[e.z, z]]), { copy: true });
      return { phi: phi!.length === z.length ? phi! : new Float64Array(z.length).fill(phi![0]!), dphi: dphi!.length === z.length ? dphi! : new Float64Array(z.length).fill(dphi![0]!) };
    },
  };
}

/**
 * Recognise f(x) = vᵀφ(Wx/√d)/√m in the model's graph: two parameters W : [m, d] and v : [m],
 * h = f(X) on data X : [n, d] (and the same f on the test inputs of a `test` declaration). The
 * constant factors around the hidden layer go into φ (h = c·Σ_r v_r G(z_r) gives φ = c√m·G),
 * and the form is checked numerically against the graph at w0 and at a perturbed point.
 * Throws NtkError (a model error) saying what does not fit.
 * @example recognizeTwoLayer(loadModel('examples/early-erf.ntk')).activation.text // 'φ(z) = erf(z)'
 */
export function recognizeTwoLayer(model: Model, ev: Evaluator = new Evaluator(model)): TwoLayerForm {
  const mats = model.params.filter((q) => q.shape.length === 2), vecs = model.params.filter((q) => q.shape.length === 1);
  if (model.params.length !== 2 || mats.length !== 1 || vecs.length !== 1)
    notTwoLayer(model, `expected two parameters, a matrix W : [m, d] and a vector v : [m]; found ${model.params.map((q) => `${q.name} : [${q.shape.join(', ')}]`).join(', ')}`);
  const W = mats[0]!, v = vecs[0]!;
  const [m, d] = W.shape as [number, number];
  if (v.shape[0] !== m) notTwoLayer(model, `W : [${W.shape.join(', ')}] has ${m} rows but v : [${v.shape[0]}]`);
  if (model.outputShape.length !== 1) notTwoLayer(model, `the output has shape [${model.outputShape.join(', ')}]; expected one value per input row, h = f(X)`);
  const n = model.outputShape[0]!;
  const g = model.graph;
  const train = readout(model, model.output, n, W, v, 'the model');
  const act = activation(g, train);
  let Xt: DataInfo | null = null, nt = 0;
  if (model.test && model.test.shape.length === 1) {
    nt = model.test.shape[0]!;
    const t = readout(model, model.test.output, nt, W, v, `the test outputs '${model.test.name}'`);
    const tAct = activation(g, t);
    const zs = Float64Array.from({ length: 41 }, (_, i) => -4 + i / 5);
    const a = act.eval(zs).phi, b = tAct.eval(zs).phi;
    if (a.some((x, i) => Math.abs(x - b[i]!) > 1e-12 * (1 + Math.abs(x)))) notTwoLayer(model, `the test outputs '${model.test.name}' use another activation than the model`);
    Xt = t.X;
  }
  for (const D of [train.X, Xt]) {
    const bad = D ? D.value.findIndex((x) => !Number.isFinite(x)) : -1;
    if (D && bad >= 0)
      throw new NtkError([{ severity: 'error', file: model.file, span: D.span, message: `the inputs '${D.name}' hold ${D.value[bad]} at row ${Math.floor(bad / d)}, column ${bad % d}: data must be finite` }]);
  }
  const form: TwoLayerForm = { W, v, X: train.X, Xt, n, d, m, nt, activation: act };
  // the numerical check: h(w) = vᵀφ(XWᵀ/√d)/√m at w0 and at a perturbed point
  const w1 = model.w0.map((x, i) => x + 0.3 * Math.sin(1 + 7.3 * i));
  for (const w of [model.w0, w1]) {
    const h = ev.output(w);
    const vw = w.subarray(v.offset, v.offset + v.size);
    const fw = forward(form, w.subarray(W.offset, W.offset + W.size), vw, train.X.value), f = fw.f;
    // the size of the terms (a symmetric initialization makes h itself 0)
    let scale = 1e-300;
    for (let i = 0; i < n; i++) {
      let t = 0;
      for (let r = 0; r < m; r++) t += Math.abs(vw[r]! * fw.phi[i * m + r]!);
      scale = Math.max(scale, t / Math.sqrt(m));
    }
    const worst = Math.max(...Array.from(h, (x, i) => Math.abs(x - f[i]!)));
    if (!(worst <= 1e-10 * scale)) notTwoLayer(model, `the recognised form vᵀφ(Wx/√d)/√m with ${act.text} differs from the model by ${worst.toExponential(2)} (relative to ${scale.toExponential(2)})`);
  }
  return form;
}

/** Z = XWᵀ/√d, φ(Z), φ′(Z) (n × m) and f = φ(Z)v/√m. */
function forward(form: TwoLayerForm, W: Float64Array, v: Float64Array, X: Float64Array) {
  const { d, m } = form;
  const n = X.length / d;
  const gemm = defaultBackend().gemm;
  const Z = new Float64Array(n * m);
  gemm(false, true, n, m, d, 1 / Math.sqrt(d), X, 0, d, W, 0, d, 0, Z, 0, m);
  const { phi, dphi } = form.activation.eval(Z);
  const f = new Float64Array(n);
  gemm(false, false, n, 1, m, 1 / Math.sqrt(m), phi, 0, m, v, 0, 1, 0, f, 0, 1);
  return { Z, phi, dphi, f };
}

/**
 * ∇_W and ∇_v of (1/2n)Σ(f − y)² from a forward pass: with r = (f − y)/n,
 * ∇_v = φ(Z)ᵀr/√m and ∇_W = Gᵀ X/√(md), G_ir = r_i v_r φ′(Z_ir).
 */
function gradients(form: TwoLayerForm, fw: ReturnType<typeof forward>, v: Float64Array, X: Float64Array, y: Float64Array) {
  const { d, m } = form;
  const n = X.length / d;
  const gemm = defaultBackend().gemm;
  const r = fw.f.map((x, i) => (x - y[i]!) / n);
  const gv = new Float64Array(m), gW = new Float64Array(m * d), G = new Float64Array(n * m);
  gemm(true, false, m, 1, n, 1 / Math.sqrt(m), fw.phi, 0, m, r, 0, 1, 0, gv, 0, 1);
  for (let i = 0; i < n; i++) for (let q = 0; q < m; q++) G[i * m + q] = r[i]! * v[q]! * fw.dphi[i * m + q]!;
  gemm(true, false, m, d, n, 1 / Math.sqrt(m * d), G, 0, m, X, 0, d, 0, gW, 0, d);
  return { gW, gv };
}

// ------------------------------------------------------------------ constants and features

/** The Gaussian constants of seed 004 (g ~ N(0, 1)). */
export interface EarlyConstants {
  zeta: number;
  nu: number;
  theta0: number;
  theta1: number;
  theta2: number;
}

/**
 * E[F(g)], g ~ N(0, 1), of the functions seed 004 needs, with their accuracy: supplied by the
 * Gaussian-expectation machinery (`gaussianMoments`), given φ.
 */
export interface ActivationMoments {
  /** E[φ(g)], E[φ′(g)], E[g φ′(g)], E[(½g³ − g) φ′(g)]. */
  phi: number;
  dphi: number;
  gdphi: number;
  hermite3: number;
  /** The largest estimated absolute error of the four (closed forms: rounding). */
  accuracy: number;
  /** How they were computed, in words, e.g. 'closed forms (erf)' or 'quadrature … (up to 96 nodes)'. */
  method: string;
  /** How each of the four was computed: 'closed form', or 'quadrature (N nodes[, split at the kink at 0])'. */
  methods?: { phi: string; dphi: string; gdphi: string; hermite3: string };
}

/** How each constant was computed (the `constantMethods` of `early`'s report). */
export interface ConstantMethods {
  zeta: string;
  nu: string;
  theta0: string;
  theta1: string;
  theta2: string;
}

/**
 * E[φ(g)], E[φ′(g)], E[gφ′(g)], E[(½g³ − g)φ′(g)] for g ~ N(0, 1) by the shared Gaussian
 * machinery (`src/math/gaussian.ts`'s `expect1`), on φ and its symbolic derivative as the
 * infinite-width limit reads them (`src/nth/limit-scalar.ts`: `toGaussFn`, `derivative`,
 * `kinkPoints`). Where φ′ (or φ) is a combination of the registry's closed-form atoms
 * (`gaussian` of each op in `src/ir/ops.ts`: erf, relu = ½(id + abs), sin, cos, exp, abs,
 * polynomials of degree ≤ 3, …) each moment is a closed form (`atomMoment`: Stein's identity on the
 * atom table); otherwise (tanh, softplus, sigmoid, compositions such as tanh(sin z)) converged
 * quadrature (to 1e-13 relative to Σ|terms|), split at every kink (relu(z − c): at c; found by
 * `kinkPoints`), never integrated across one. A jump (whose φ′ holds a δ) is refused.
 * `opts.quadrature` forces quadrature (tests).
 * @example gaussianMoments(recognizeTwoLayer(model).activation).dphi // 2/√(3π) for erf, methods.dphi 'closed form'
 */
export function gaussianMoments(a: Activation, file = '<model>', opts: { quadrature?: boolean } = {}): ActivationMoments {
  const dse = derivative(a.se);
  // the kinks of φ and φ′ (relu(z − c) has one at c): the quadrature is split there
  const kinks = [...new Set([...kinkPoints(a.se), ...kinkPoints(dse)])].sort((x, y) => x - y);
  const jump = [0, ...kinks].find((c) => jumpsAt(a.se, c));
  if (jump !== undefined)
    throw new NtkError([{ severity: 'error', file, span: null, message: `${a.text} jumps at z = ${jump}: φ′ holds a δ there, which the constants ζ = E[φ′(g)], … of seed 004 do not take`, hint: 'use a continuous activation (relu, erf, tanh, softplus, …)' }]);
  const f = toGaussFn(a.se), df = toGaussFn(dse);
  const one = Float64Array.of(1), tol = 1e-13;
  const o = { ...opts, breaks: kinks };
  const e0 = expect1(f, one, 0, tol, o), d0 = expect1(df, one, 0, tol, o), d1 = expect1(df, one, 1, tol, o), d3 = expect1(df, one, 3, tol, o);
  const where = kinks.some((c) => c !== 0) ? `, split at the kink${kinks.length > 1 ? 's' : ''} at ${kinks.map((c) => Number(c.toPrecision(12))).join(', ')}` : '';
  const how = (r: ReturnType<typeof expect1>, fn: typeof f) =>
    r.method === 'closed' ? 'closed form' : `quadrature (${r.order} nodes${where || (fn.kinkAtZero ? ', split at the kink at 0' : '')})`;
  const methods = {
    phi: how(e0, f), dphi: how(d0, df), gdphi: how(d1, df),
    hermite3: d1.method === 'closed' && d3.method === 'closed' ? 'closed form' : how(d3.method === 'closed' ? d1 : d3, df),
  };
  const all = [e0, d0, d1, d3];
  const closed = all.every((r) => r.method === 'closed');
  const order = Math.max(...all.map((r) => r.order));
  return {
    phi: e0.value[0]!, dphi: d0.value[0]!, gdphi: d1.value[0]!, hermite3: 0.5 * d3.value[0]! - d1.value[0]!,
    accuracy: Math.max(e0.accuracy, d0.accuracy, d1.accuracy, 0.5 * d3.accuracy + d1.accuracy),
    method: closed
      ? `closed forms of src/math/gaussian.ts (φ = ${show(a.se)})`
      : `${all.some((r) => r.method === 'closed') ? 'closed forms and ' : ''}quadrature of src/math/gaussian.ts (up to ${order} nodes${where || (f.kinkAtZero || df.kinkAtZero ? ', split at the kink' : '')})`,
    methods,
  };
}

/**
 * Which computation each constant comes from: ζ = E[φ′], ν and ϑ1 from E[gφ′], ϑ0 = E[φ],
 * ϑ2 = E[(½g³ − g)φ′] (given moments: 'given').
 * @example constantMethods(gaussianMoments(recognizeTwoLayer(loadModel('examples/early-erf.ntk')).activation)).zeta // 'closed form'
 */
export function constantMethods(mo: ActivationMoments): ConstantMethods {
  const m = mo.methods ?? { phi: 'given', dphi: 'given', gdphi: 'given', hermite3: 'given' };
  return { zeta: m.dphi, nu: m.gdphi, theta0: m.phi, theta1: m.gdphi, theta2: m.hermite3 };
}

/** Statistics of the training inputs that the theory uses. */
export interface InputStats {
  /** Tr Σ and Tr Σ² of the empirical covariance Σ = (1/n) Σ_i (x_i − x̄)(x_i − x̄)ᵀ. */
  traceSigma: number;
  traceSigma2: number;
  /** Its eigenvalues' extremes, and the mean's norm ‖x̄‖. */
  lambdaMin: number;
  lambdaMax: number;
  meanNorm: number;
}

/**
 * The inputs' statistics the early-time constants need (docs/math.md §4): with x̄ the mean and
 * Σ = (1/n) Σ_i (x_i − x̄)(x_i − x̄)ᵀ, Tr Σ, Tr Σ², Σ's extreme eigenvalues and ‖x̄‖.
 * @example inputStats(X, n, d).traceSigma   // ≈ d for data normalized as the paper assumes
 */
export function inputStats(X: Float64Array, n: number, d: number): InputStats {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] += X[i * d + j]!;
  for (let j = 0; j < d; j++) mean[j] /= n;
  const S = new Float64Array(d * d);
  for (let i = 0; i < n; i++)
    for (let a = 0; a < d; a++) {
      const xa = X[i * d + a]! - mean[a]!;
      for (let b = 0; b < d; b++) S[a * d + b] += (xa * (X[i * d + b]! - mean[b]!)) / n;
    }
  let tr = 0, tr2 = 0;
  for (let a = 0; a < d; a++) tr += S[a * d + a]!;
  for (let i = 0; i < d * d; i++) tr2 += S[i]! * S[i]!;
  const { values } = symmetricEigen(S, d);
  return { traceSigma: tr, traceSigma2: tr2, lambdaMin: values[0]!, lambdaMax: values[d - 1]!, meanNorm: Math.hypot(...mean) };
}

/**
 * ζ, ν, ϑ0, ϑ1, ϑ2 from φ's Gaussian moments and the inputs' covariance.
 * @example earlyConstants(moments, inputStats(X, n, d), d).zeta   // ζ = E[φ'(g)], g ~ N(0, 1)
 */
export function earlyConstants(mo: Pick<ActivationMoments, 'phi' | 'dphi' | 'gdphi' | 'hermite3'>, stats: Pick<InputStats, 'traceSigma2'>, d: number): EarlyConstants {
  return { zeta: mo.dphi, nu: mo.gdphi * Math.sqrt(stats.traceSigma2 / d), theta0: mo.phi, theta1: mo.gdphi, theta2: mo.hermite3 };
}

/**
 * The linear model's features on the rows of X (n × d): ψ1 (n × (d+1)) and ψ2 (n × (d+2)),
 * exactly as MATH.md §4 writes them.
 * @example features(c, X, n, d).psi1[i * (d + 1) + d] // ν/√d
 */
export function features(c: EarlyConstants, X: Float64Array, n: number, d: number): { psi1: Float64Array; psi2: Float64Array } {
  const psi1 = new Float64Array(n * (d + 1)), psi2 = new Float64Array(n * (d + 2));
  const sd = Math.sqrt(d);
  for (let i = 0; i < n; i++) {
    let sq = 0;
    for (let j = 0; j < d; j++) {
      const x = X[i * d + j]!;
      sq += x * x;
      psi1[i * (d + 1) + j] = (c.zeta * x) / sd;
      psi2[i * (d + 2) + j] = (c.zeta * x) / sd;
    }
    psi1[i * (d + 1) + d] = c.nu / sd;
    psi2[i * (d + 2) + d] = c.nu / Math.sqrt(2 * d);
    const u = Math.sqrt(sq) / sd - 1;
    psi2[i * (d + 2) + d + 1] = c.theta0 + c.theta1 * u + c.theta2 * u * u;
  }
  return { psi1, psi2 };
}

// ------------------------------------------------------------------ small dense helpers

/** A·Bᵀ for A (r × k) and B (s × k), row-major, times `scale` (the backend's gemm). */
function abt(A: Float64Array, B: Float64Array, r: number, s: number, k: number, scale = 1): Float64Array {
  const C = new Float64Array(r * s);
  defaultBackend().gemm(false, true, r, s, k, scale, A, 0, k, B, 0, k, 0, C, 0, s);
  return C;
}

/** ‖A‖₂ of an n × n matrix: √λmax(AᵀA) (A symmetric: max |λ|). */
export function spectralNorm(A: Float64Array, n: number, symmetric = false): number {
  if (symmetric) {
    const S = A.slice();
    for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) S[i * n + j] = S[j * n + i] = 0.5 * (A[i * n + j]! + A[j * n + i]!);
    const { values } = symmetricEigen(S, n);
    return Math.max(Math.abs(values[0]!), Math.abs(values[n - 1]!));
  }
  const AtA = new Float64Array(n * n);
  defaultBackend().gemm(true, false, n, n, n, 1, A, 0, n, A, 0, n, 0, AtA, 0, n);
  for (let i = 0; i < n; i++) for (let j = 0; j < i; j++) AtA[i * n + j] = AtA[j * n + i] = 0.5 * (AtA[i * n + j]! + AtA[j * n + i]!);
  const { values } = symmetricEigen(AtA, n);
  return Math.sqrt(Math.max(0, values[n - 1]!));
}

// ------------------------------------------------------------------ the dynamics

/**
 * The peak bytes `early` holds besides its evaluator and its trajectory, for n training and nt
 * test inputs, width m and dimension d: twelve n × n matrices (XXᵀ, Θ1, Θlin1, Θ2, Θlin2, K, the
 * differences and spectral norms' copies with their eigendecompositions, the network's J_H J_Hᵀ
 * and its two Gram terms), ten n × m arrays (the forward passes at w0 and at the current step:
 * Z, φ(Z), φ′(Z); the products' two factors; the gradient's G), the features (2n(d + 2)), and
 * for the test inputs four nt × n cross blocks and a forward pass (3·nt·m).
 * @example earlyWorkingSet(256, 256, 16, 0) // 8·(12·256² + 10·256² + 2·256·18) ≈ 11.6 MB
 */
export function earlyWorkingSet(n: number, m: number, d: number, nt: number): number {
  return 8 * (12 * n * n + 10 * n * m + 2 * n * (d + 2) + 4 * nt * n + 3 * nt * m + 2 * nt * (d + 2));
}

/**
 * Options of `early`: the learning rates by parameter name (η1 for W, η2 for v), the number of
 * steps and how often to report.
 */
export interface EarlyOptions {
  /** Rates by parameter name (W's and v's names); a name not given is frozen. */
  lr: Rates;
  steps: number;
  /** Report every k steps (and the last step). */
  every: number;
  /** φ's Gaussian moments; by default `gaussianMoments` (the shared Gaussian machinery). */
  moments?: ActivationMoments;
  onProgress?: (step: number, steps: number) => void;
}

/**
 * One reported step of `early`: the gap (1/n) Σ_i (f(x_i) − f_lin(x_i))² between the network and
 * its linear model, and the quantities of the paper's bound.
 */
export interface EarlyRow {
  step: number;
  /** (1/n) Σ_i (f(x_i) − f_lin(x_i))² on the training inputs, and on the test inputs (null without). */
  trainGap: number;
  testGap: number | null;
  /** (1/2n) Σ (f − y)² for the network and the linear model; on the test inputs with a test target. */
  loss: number;
  linLoss: number;
  testLoss: number | null;
  linTestLoss: number | null;
  /** ‖u(t) − u_lin(t)‖ = √(n·trainGap), the running ε of Assumption 1, and the bound t·ε/√n. */
  gapNorm: number;
  epsilon: number;
  bound: number;
}

/**
 * What `early` reports (the keys of `ntk early --json`): the network's form, the rates, the
 * constants ζ, ν, ϑ0..ϑ2, the rows of the run, and the linear iteration's stability.
 */
export interface EarlyResult {
  form: { W: string; v: string; X: string; n: number; d: number; m: number; activation: string; testInputs: string | null };
  rates: { eta1: number; eta2: number };
  constants: EarlyConstants;
  /** How each constant was computed: 'closed form' or 'quadrature (N nodes…)'. */
  constantMethods: ConstantMethods;
  moments: ActivationMoments;
  /** Tr Σ (the theory assumes d), Tr Σ², and the covariance's extreme eigenvalues. */
  inputs: InputStats;
  kernelDistance: number;
  kernelDistance2: number;
  /** ‖Θ_lin1‖, ‖Θ_lin2‖: the scale of the distances. */
  kernelNorm: number;
  kernelNorm2: number;
  trajectory: EarlyRow[];
  /** The network's and the linear model's outputs on the training inputs after the last step. */
  out: number[];
  linOut: number[];
  /** The first step at which trainGap > 0.1·loss (null: never within the steps). */
  partStep: number | null;
  /** The theory's horizon c·d·log d/η with c = 1 (η = η1, or η2 when the first layer is frozen). */
  horizon: { value: number; eta: number; note: string };
  /** The largest ε found (Assumption 1) and ‖K‖ of the linear model's kernel with the rates. */
  epsilon: number;
  /** Stability of the linear model's iteration: the limit 2n/‖K‖ on a common rate, ‖I − K/n‖. */
  stability: { kernelNorm: number; limitFactor: number; contraction: number; networkContraction: number };
  warnings: string[];
}

/**
 * A usage problem with `early`'s options (exit 2).
 * @example early(model, { lr: { W: 1 }, steps: 0, every: 1 })   // throws EarlyUsageError: --steps 0: expected an integer ≥ 1
 */
export class EarlyUsageError extends Error {}

/**
 * Train the two-layer network and its linear model side by side (see the file's comment).
 * @example
 *   const r = early(loadModel('examples/early-erf.ntk'), { lr: { W: 1 }, steps: 200, every: 20 });
 *   r.constants.zeta   // 2/√(3π) for erf
 *   r.partStep         // the first step where the gap exceeds 10% of the loss
 */
export function early(model: Model, opts: EarlyOptions): EarlyResult {
  const ev = new Evaluator(model);
  const form = recognizeTwoLayer(model, ev);
  const { W, v, n, d, m, nt } = form;
  ensureMemory(earlyWorkingSet(n, m, d, nt), `early on ${n} inputs at width ${m}${nt ? ` (and ${nt} test inputs)` : ''}`, 'fewer inputs or a smaller width (--set), or raise --max-memory');
  const warnings: string[] = [];
  // rates
  const given = opts.lr instanceof Map ? [...opts.lr] : Object.entries(opts.lr as Record<string, number>);
  for (const [name, rate] of given) {
    if (name !== W.name && name !== v.name) throw new RateError(`--lr: '${name}' is not a parameter of ${model.file} (its parameters: ${W.name}, ${v.name})`);
    if (!Number.isFinite(rate) || rate < 0) throw new RateError(`--lr: the rate of '${name}' is ${rate}: a learning rate must be a finite number ≥ 0`);
  }
  const rateOf = new Map(given);
  const eta1 = rateOf.get(W.name) ?? 0, eta2 = rateOf.get(v.name) ?? 0;
  if (eta1 === 0 && eta2 === 0) throw new RateError(`--lr: both layers would be frozen; give ${W.name}=η1 and/or ${v.name}=η2`);
  if (!Number.isInteger(opts.steps) || opts.steps < 1) throw new EarlyUsageError(`--steps ${opts.steps}: expected an integer ≥ 1`);
  if (!Number.isInteger(opts.every) || opts.every < 1) throw new EarlyUsageError(`--every ${opts.every}: expected an integer ≥ 1`);
  const y = ev.target();
  if (!y || model.loss?.kind !== 'square') throw new NtkError([{ severity: 'error', file: model.file, span: model.loss?.span ?? null, message: "early trains on (1/2n)Σ(f(x_i) − y_i)²: declare 'loss square(target = y)'" }]);
  const badY = y.findIndex((x) => !Number.isFinite(x));
  if (badY >= 0) throw new NtkError([{ severity: 'error', file: model.file, span: model.loss.span, message: `the target holds ${y[badY]} at entry ${badY}: data must be finite` }]);
  const yt = form.Xt ? ev.testTarget() : null;
  if (form.activation.nonSmooth)
    warnings.push(`φ is not smooth (${form.activation.text}): the piecewise-linear case of the theory takes φ′(0) = 1; here φ′ is the graph's derivative`);

  // the inputs: Σ, Tr Σ against d, degeneracy
  const X = form.X.value;
  const stats = inputStats(X, n, d);
  const meanSquare = X.reduce((a, x) => a + x * x, 0) / n;
  if (!(stats.traceSigma > 1e-12 * meanSquare) || !Number.isFinite(stats.traceSigma))
    throw new NtkError([{ severity: 'error', file: model.file, span: form.X.span, message: `the training inputs '${form.X.name}' have a degenerate covariance (Tr Σ = ${stats.traceSigma.toPrecision(3)}): every row is the same`, hint: 'the linear model and the constants need inputs that vary: draw them, e.g. normal(0, 1)' }]);
  if (stats.lambdaMin <= 1e-10 * stats.lambdaMax)
    warnings.push(`the covariance of '${form.X.name}' is singular (smallest eigenvalue ${stats.lambdaMin.toExponential(2)} of ${stats.lambdaMax.toExponential(2)}${n <= d ? `; n = ${n} ≤ d = ${d}` : ''}): the theory assumes well-conditioned data`);
  if (Math.abs(stats.traceSigma / d - 1) > 0.25)
    warnings.push(`Tr Σ = ${stats.traceSigma.toPrecision(4)} is far from d = ${d} (the theory assumes Tr Σ = d): scale the inputs by √(d/Tr Σ) = ${Math.sqrt(d / stats.traceSigma).toPrecision(4)}`);
  if (stats.meanNorm > 3 * Math.sqrt(stats.traceSigma / n) + 1e-12)
    warnings.push(`the inputs' mean has norm ${stats.meanNorm.toPrecision(3)}, more than sampling noise around 0 (the theory assumes mean 0)`);

  const mo = opts.moments ?? gaussianMoments(form.activation, model.file);
  const moSize = Math.max(1, Math.abs(mo.phi), Math.abs(mo.dphi), Math.abs(mo.gdphi), Math.abs(mo.hermite3));
  if (!(mo.accuracy <= 1e-6 * moSize))
    throw new NtkError([{ severity: 'error', file: model.file, span: null, message: `the Gaussian constants of ${form.activation.text} do not converge (estimated error ${mo.accuracy.toPrecision(3)} on values up to ${moSize.toPrecision(3)}): E[φ(g)] may not exist (φ grows like e^{g²/4} or faster)`, hint: 'use an activation that grows at most polynomially or like e^{a·g} (tanh, erf, relu, softplus, exp, …)' }]);
  if (!(mo.accuracy <= 1e-10 * moSize))
    warnings.push(`the Gaussian constants of ${form.activation.text} converged only to ±${mo.accuracy.toPrecision(3)} (${mo.method}): φ grows fast`);
  const constants = earlyConstants(mo, stats, d);
  const { psi1, psi2 } = features(constants, X, n, d);
  const Xt = form.Xt?.value ?? null;
  const tf = Xt ? features(constants, Xt, nt, d) : null;

  // the kernels at w0
  const w = model.w0.slice();
  const Wv = () => w.subarray(W.offset, W.offset + W.size), vv = () => w.subarray(v.offset, v.offset + v.size);
  const XX = abt(X, X, n, n, d, 1 / d);
  const f0 = forward(form, Wv(), vv(), X);
  const theta1 = abt(f0.dphi, f0.dphi, n, n, m, 1 / m);
  for (let i = 0; i < n * n; i++) theta1[i] *= XX[i]!;
  const lin1 = abt(psi1, psi1, n, n, d + 1);
  const theta2 = abt(f0.phi, f0.phi, n, n, m, 1 / m);
  const lin2 = abt(psi2, psi2, n, n, d + 2);
  const kernelDistance = spectralNorm(theta1.map((x, i) => x - lin1[i]!), n, true);
  const kernelDistance2 = spectralNorm(theta2.map((x, i) => x - lin2[i]!), n, true);
  const kernelNorm = spectralNorm(lin1, n, true), kernelNorm2 = spectralNorm(lin2, n, true);

  // K = η1 ψ1ψ1ᵀ + η2 ψ2ψ2ᵀ, and the network's J_H J_Hᵀ at θ and θ′ (two-layer closed form)
  const K = lin1.map((x, i) => eta1 * x + eta2 * lin2[i]!);
  const jj = (a: ReturnType<typeof forward>, va: Float64Array, b: ReturnType<typeof forward>, vb: Float64Array) => {
    const A = new Float64Array(n * m), B = new Float64Array(n * m);
    for (let i = 0; i < n; i++) for (let r = 0; r < m; r++) (A[i * m + r] = va[r]! * a.dphi[i * m + r]!), (B[i * m + r] = vb[r]! * b.dphi[i * m + r]!);
    const G1 = eta1 ? abt(A, B, n, n, m, eta1 / m) : new Float64Array(n * n);
    const G2 = eta2 ? abt(a.phi, b.phi, n, n, m, eta2 / m) : new Float64Array(n * n);
    return G1.map((x, i) => x * XX[i]! + G2[i]! - K[i]!);
  };
  const v0 = vv().slice();
  const kSpec = symmetricEigen(K.slice(), n).values;
  const kNorm = Math.max(Math.abs(kSpec[0]!), Math.abs(kSpec[n - 1]!));
  const contraction = Math.max(Math.abs(1 - kSpec[0]! / n), Math.abs(1 - kSpec[n - 1]! / n));
  const net0 = jj(f0, v0, f0, v0).map((x, i) => x + K[i]!);
  const nSpec = symmetricEigen(net0, n).values;
  const networkContraction = Math.max(Math.abs(1 - nSpec[0]! / n), Math.abs(1 - nSpec[n - 1]! / n));
  const limitFactor = (2 * n) / kNorm;
  if (kNorm / n > 2)
    warnings.push(`the rates are above the stability limit: ‖K‖/n = ${(kNorm / n).toPrecision(4)} > 2 (a common rate must stay below 2n/‖K‖), so the linear model diverges, ‖I − K/n‖ = ${contraction.toPrecision(4)}; multiply the rates by less than ${limitFactor.toPrecision(4)}`);
  else if (nSpec[n - 1]! / n > 2)
    warnings.push(`the network's NTK at w0 is above the stability limit: λmax/n = ${(nSpec[n - 1]! / n).toPrecision(4)} > 2, contraction factor ${networkContraction.toPrecision(4)}`);
  const u0max = Math.max(...Array.from(f0.f, Math.abs));
  if (u0max > 1e-12 * Math.max(1, Math.max(...Array.from(y, Math.abs))))
    warnings.push(`f ≠ 0 at w0 (max |f(x_i)| = ${u0max.toPrecision(3)}): the theorem assumes u(0) = u_lin(0) = 0; use symmetric initialization (normal(…, mirror = 1) for W, mirror = -1 for v)`);

  // side by side
  const beta1 = new Float64Array(d + 1), beta2 = new Float64Array(d + 2);
  const linOut = (p1: Float64Array, p2: Float64Array, rows: number) => {
    const u = new Float64Array(rows);
    for (let i = 0; i < rows; i++) {
      let s = 0;
      for (let j = 0; j <= d; j++) s += p1[i * (d + 1) + j]! * beta1[j]!;
      for (let j = 0; j <= d + 1; j++) s += p2[i * (d + 2) + j]! * beta2[j]!;
      u[i] = s;
    }
    return u;
  };
  const mean2 = (a: Float64Array, b: Float64Array) => a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0) / a.length;
  const trajectory: EarlyRow[] = [];
  let epsilon = 0, partStep: number | null = null;
  let last = { u: new Float64Array(n), ul: new Float64Array(n) };
  const sn = Math.sqrt(n);
  for (let step = 0; ; step++) {
    const fw = forward(form, Wv(), vv(), X);
    const u = fw.f;
    const ul = linOut(psi1, psi2, n);
    const gap = mean2(u, ul);
    const loss = mean2(u, y) / 2;
    if (!Number.isFinite(gap) || !Number.isFinite(loss))
      throw new RateError(`the network or the linear model diverged at step ${step} (loss ${loss}, gap ${gap}): take smaller rates`);
    if (partStep === null && gap > 0.1 * loss) partStep = step;
    last = { u, ul };
    if (step % opts.every === 0 || step === opts.steps) {
      // the model's own graph at this w: the two-layer closed form must agree with it
      const h = ev.output(w);
      const dev = Math.max(...Array.from(h, (x, i) => Math.abs(x - u[i]!)));
      // relative to the size of the terms of the sum (a symmetric initialization makes h ≈ 0)
      const vnow = vv();
      let terms = 0;
      for (let i = 0; i < n; i++) {
        let t = 0;
        for (let q = 0; q < m; q++) t += Math.abs(vnow[q]! * fw.phi[i * m + q]!);
        terms = Math.max(terms, t / Math.sqrt(m));
      }
      if (!(dev <= 1e-9 * Math.max(1, terms, ...Array.from(h, Math.abs)))) throw new Error(`internal: the two-layer form left the model's graph at step ${step} (by ${dev})`);
      const e = Math.max(spectralNorm(jj(fw, vv(), fw, vv()), n, true), spectralNorm(jj(fw, vv(), f0, v0), n));
      epsilon = Math.max(epsilon, e);
      let testGap: number | null = null, testLoss: number | null = null, linTestLoss: number | null = null;
      if (Xt && tf) {
        const ut = ev.testOutput(w), ult = linOut(tf.psi1, tf.psi2, nt);
        testGap = mean2(ut, ult);
        if (yt) (testLoss = mean2(ut, yt) / 2), (linTestLoss = mean2(ult, yt) / 2);
      }
      const gapNorm = Math.sqrt(n * gap);
      trajectory.push({ step, trainGap: gap, testGap, loss, linLoss: mean2(ul, y) / 2, testLoss, linTestLoss, gapNorm, epsilon, bound: (step * epsilon) / sn });
    }
    if (step === opts.steps) break;
    // one step of each: W ← W − η1∇_W L, v ← v − η2∇_v L; β_k ← β_k − (η_k/n)ψ_kᵀ(u_lin − y)
    const { gW, gv } = gradients(form, fw, vv(), X, y);
    if (eta1) for (let i = 0; i < W.size; i++) w[W.offset + i] -= eta1 * gW[i]!;
    if (eta2) for (let i = 0; i < v.size; i++) w[v.offset + i] -= eta2 * gv[i]!;
    const rl = ul.map((x, i) => (x - y[i]!) / n);
    if (eta1) for (let j = 0; j <= d; j++) { let s = 0; for (let i = 0; i < n; i++) s += psi1[i * (d + 1) + j]! * rl[i]!; beta1[j] -= eta1 * s; }
    if (eta2) for (let j = 0; j <= d + 1; j++) { let s = 0; for (let i = 0; i < n; i++) s += psi2[i * (d + 2) + j]! * rl[i]!; beta2[j] -= eta2 * s; }
    opts.onProgress?.(step + 1, opts.steps);
  }
  const eta = eta1 > 0 ? eta1 : eta2;
  return {
    form: { W: W.name, v: v.name, X: form.X.name, n, d, m, activation: form.activation.text, testInputs: form.Xt?.name ?? null },
    rates: { eta1, eta2 },
    constants, constantMethods: constantMethods(mo), moments: mo, inputs: stats,
    kernelDistance, kernelDistance2, kernelNorm, kernelNorm2,
    trajectory, out: Array.from(last.u), linOut: Array.from(last.ul), partStep,
    horizon: { value: (d * Math.log(d)) / eta, eta, note: `c·d·log d/η with c = 1 (the theorems hold up to a universal constant c) and η = ${eta1 > 0 ? 'η1' : 'η2'}` },
    epsilon,
    stability: { kernelNorm: kNorm, limitFactor, contraction, networkContraction },
    warnings,
  };
}
