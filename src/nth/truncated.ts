/**
 * The truncated Neural Tangent Hierarchy (docs/math.md §3, eq. 2.7) for the rescaled gradient flow
 * dw/dt = −(1/α)·Dh(w)ᵀ g, g = ∇R(α·h(w)), with the kernels on the outputs of h:
 *
 *   ∂_t v          = −Σ_b K^(2)(·, b) g_b,                     v = α·h,  g = ∇R(v),
 *   ∂_t K^(r)(t)   = −(1/α) Σ_b K^(r+1)(t, b) g_b,   2 ≤ r < p,  (t an index tuple)
 *   ∂_t K^(p)      = 0,
 *
 * started from the true kernels at w0. p = 2 is the constant-NTK (linearized) flow. Since the
 * truncated system reproduces d^j v/dt^j for j < p exactly, its error is O(t^p) at small t.
 * The true flow is integrated in weight space next to it, for comparison.
 *
 * Predictions at new inputs (eq. 2.11): with a `test` declaration g: R^p → R^kt (the model on
 * held-out inputs x), the same hierarchy with one index fixed to x, i.e. the kernels of the
 * stacked outputs [h; g] whose first index is a test output (`kernelTensor` with
 * firstIndex 'test'):
 *
 *   ∂_t (α g_x)             = −Σ_b K^(2)(x, b) g_b,
 *   ∂_t K̃^(r)(x, a2..ar)    = −(1/α) Σ_b K^(r+1)(x, a2..ar, b) g_b,   2 ≤ r < p,
 *   ∂_t K̃^(p)(x, ·)         = 0,
 *
 * driven by the training outputs' g = ∇R(v) (nothing flows back). These are the true flow's
 * d/dt g_x(w) = ∇g_x·ẇ = −(1/α) Σ_b ⟨∇g_x, ∇h_b⟩ g_b and d/dt K^(r)(x, …) = D K^(r)(x, …)[ẇ],
 * truncated at p; p = 2 is the linearized prediction α(g(w0) + Dg(w0)(w̄(t) − w0)).
 */
import { vjp } from '../ad/transpose.ts';
import type { NodeId } from '../ir/graph.ts';
import { sizeOf } from '../ir/shape.ts';
import { solve } from '../dynamics/solvers/index.ts';
import type { Evaluator } from '../evaluator/evaluator.ts';
import { ntk } from './ntk.ts';
import { kernelTensor, KernelUsageError } from './hierarchy.ts';

/**
 * Options of `nth` (the truncated hierarchy of order p): the horizon T, α, the tolerance, and
 * whether to integrate the true flow and the test outputs next to it.
 */
export interface TruncatedOptions {
  /** Scale α of the model (default 1). */
  alpha?: number;
  /** Horizon T > 0. */
  T: number;
  /** Relative tolerance of both integrations (default 1e-10). */
  rtol?: number;
  /** Also integrate the true flow (default true). */
  trueFlow?: boolean;
  /** Predictions at the test inputs when the model declares `test` (default true). */
  test?: boolean;
}

/**
 * What `nth` reports (the keys of `ntk nth --json`): α·h̃(T) of the truncated hierarchy, α·h(w(T))
 * of the true flow, their distance `error`, K̃^(2)(T) and K^(2)(w(T)), and the same at the test inputs.
 */
export interface TruncatedResult {
  order: number;
  alpha: number;
  T: number;
  /** α·h̃(T) of the truncated hierarchy, and K̃^(2)(T) (k × k, row-major). */
  out: Float64Array;
  K2: Float64Array;
  /** α·h(w(T)) and K^(2)(w(T)) of the true flow (null without `trueFlow`). */
  trueOut: Float64Array | null;
  trueK2: Float64Array | null;
  /** ‖out − trueOut‖ (null without the true flow). */
  error: number | null;
  /**
   * At the test inputs (eq. 2.11; null when the model declares no `test`): α·g̃(T) of the
   * truncated hierarchy, the true flow's α·g(w(T)), and ‖testOut − trueTestOut‖ (both null
   * without the true flow).
   */
  testOut: Float64Array | null;
  trueTestOut: Float64Array | null;
  testError: number | null;
  stats: { hierarchySteps: number; flowSteps: number | null };
}

/**
 * g = ∇R(v) for the model's loss, as a function of v ∈ R^k.
 * @example lossGradient(evaluator(model))(v)   // v − y for loss square(target = y)
 */
export function lossGradient(ev: Evaluator): (v: Float64Array) => Float64Array {
  const m = ev.model;
  const loss = m.loss;
  if (!loss) throw new KernelUsageError('the model declares no loss: the hierarchy needs ∇R');
  if (loss.kind === 'square') {
    const target = ev.target()!;
    return (v) => v.map((x, i) => x - target[i]!);
  }
  const g = m.graph;
  const [grad] = vjp(g, [loss.value], [g.constant(1)], [loss.v]);
  const flat: NodeId = g.reshape(grad!, [sizeOf(g.shape(loss.v))]);
  const plan = ev.plan('nth-loss-grad', [flat], [loss.v]);
  return (v) => plan.run(ev.bindings(m.w0, [[loss.v, v]]))[0]!;
}

/**
 * The weights w(T) of the true flow dw/dt = −(1/α)·Dh(w)ᵀ ∇R(α·h(w)) from w0 (DOP853): one
 * forward and one reverse pass per evaluation.
 * @example const { w } = trueFlow(ev, { T: 1 }); ntk(ev, w)  // the NTK after training
 */
export function trueFlow(ev: Evaluator, opts: { T: number; alpha?: number; rtol?: number; w0?: Float64Array }): { w: Float64Array; steps: number } {
  const alpha = opts.alpha ?? 1;
  const rtol = opts.rtol ?? 1e-10;
  const grad = lossGradient(ev);
  const f = (_t: number, w: Float64Array, dw: Float64Array) => {
    const v = ev.output(w).map((x) => alpha * x);
    const gw = ev.vjp(w, grad(v));
    for (let i = 0; i < gw.length; i++) dw[i] = -gw[i]! / alpha;
  };
  const flow = solve('dop853', f, 0, (opts.w0 ?? ev.model.w0).slice(), opts.T, { rtol, atol: rtol * 1e-3 });
  if (flow.status !== 'ok') throw new Error(`the true flow stopped: ${flow.message}`);
  return { w: flow.y[flow.y.length - 1]!, steps: flow.stats.steps };
}

/**
 * Integrate the truncated hierarchy of order p ≥ 2 up to T (DOP853), and the true flow.
 * @example const r = truncatedHierarchy(evaluator(model), 3, { T: 1 }); // r.out, r.error
 */
export function truncatedHierarchy(ev: Evaluator, p: number, opts: TruncatedOptions): TruncatedResult {
  const alpha = opts.alpha ?? 1;
  const T = opts.T;
  if (!(T > 0) || !(alpha > 0)) throw new KernelUsageError('the hierarchy needs T > 0 and α > 0');
  const rtol = opts.rtol ?? 1e-10;
  const m = ev.model;
  const k = ev.k;
  const grad = lossGradient(ev);
  const w0 = m.w0;
  const Ks = [] as Float64Array[];
  for (let r = 2; r <= p; r++) Ks.push(r === 2 ? ntk(ev, w0) : kernelTensor(ev, r, { w: w0 }).data);
  const v0 = ev.output(w0).map((x) => alpha * x);
  // The test chain (eq. 2.11): α·g(w0) and the mixed kernels K^(r)(x, ·) = kernelTensor(…, test).
  const withTest = m.test !== null && (opts.test ?? true);
  const Kt = [] as Float64Array[];
  if (withTest) for (let r = 2; r <= p; r++) Kt.push(kernelTensor(ev, r, { w: w0, firstIndex: 'test' }).data);
  const u0 = withTest ? ev.testOutput(w0).map((x) => alpha * x) : new Float64Array(0);
  // State: v (k), K^(2) … K^(p−1) (k^r each), then α·g (kt), K̃^(2) … K̃^(p−1) (kt·k^(r−1)
  // each); K^(p) and K̃^(p) stay fixed. A chain is [outputs, kernels of order 2..p].
  const chains = [{ out: v0, Ks }, ...(withTest ? [{ out: u0, Ks: Kt }] : [])];
  const layout = chains.map(() => [] as number[]);
  let size = 0;
  chains.forEach((c, i) => {
    layout[i]!.push(size);
    size += c.out.length;
    for (const K of c.Ks.slice(0, -1)) {
      layout[i]!.push(size);
      size += K.length;
    }
  });
  const y0 = new Float64Array(size);
  chains.forEach((c, i) => [c.out, ...c.Ks.slice(0, -1)].forEach((x, j) => y0.set(x, layout[i]![j]!)));
  // The kernel of order j + 2 of chain i in state y (the last one fixed).
  const level = (y: Float64Array, i: number, j: number) => {
    const Kc = chains[i]!.Ks;
    return j < Kc.length - 1 ? y.subarray(layout[i]![j + 1]!, layout[i]![j + 1]! + Kc[j]!.length) : Kc[j]!;
  };
  const rhs = (_t: number, y: Float64Array, dy: Float64Array) => {
    const g = grad(y.subarray(0, k));
    // ∂_t v = −K^(2)·g;  ∂_t K^(r) = −(1/α)·K^(r+1)·g, contracting the last index.
    const contract = (K: Float64Array, out: Float64Array, scale: number) => {
      for (let row = 0, n = out.length; row < n; row++) {
        let s = 0;
        for (let b = 0, o = row * k; b < k; b++) s += K[o + b]! * g[b]!;
        out[row] = -scale * s;
      }
    };
    chains.forEach((c, i) => {
      const at = layout[i]!;
      contract(level(y, i, 0), dy.subarray(at[0]!, at[0]! + c.out.length), 1);
      for (let j = 0; j < c.Ks.length - 1; j++) contract(level(y, i, j + 1), dy.subarray(at[j + 1]!, at[j + 1]! + c.Ks[j]!.length), 1 / alpha);
    });
  };
  const res = solve('dop853', rhs, 0, y0, T, { rtol, atol: rtol * 1e-3 });
  if (res.status !== 'ok') throw new Error(`the truncated hierarchy stopped: ${res.message}`);
  const yT = res.y[res.y.length - 1]!;
  const out = yT.slice(0, k);
  const K2 = level(yT, 0, 0).slice();
  const testOut = withTest ? yT.slice(layout[1]![0]!, layout[1]![0]! + u0.length) : null;

  let trueOut: Float64Array | null = null, trueK2: Float64Array | null = null, error: number | null = null, flowSteps: number | null = null;
  let trueTestOut: Float64Array | null = null, testError: number | null = null;
  const dist = (a: Float64Array, b: Float64Array) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]!) ** 2, 0));
  if (opts.trueFlow ?? true) {
    const { w: wT, steps } = trueFlow(ev, { T, alpha, rtol });
    flowSteps = steps;
    trueOut = ev.output(wT).map((x) => alpha * x);
    trueK2 = ntk(ev, wT);
    error = dist(out, trueOut);
    if (testOut) {
      trueTestOut = ev.testOutput(wT).map((x) => alpha * x);
      testError = dist(testOut, trueTestOut);
    }
  }
  return { order: p, alpha, T, out, K2, trueOut, trueK2, error, testOut, trueTestOut, testError, stats: { hierarchySteps: res.stats.steps, flowSteps } };
}
