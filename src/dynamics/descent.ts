/**
 * Gradient descent with a learning rate η, for the model and for its linearization (seeds
 * 003/004): the time discretization of the rescaled flow of `flow.ts`,
 *
 *   w_{j+1} = w_j − (η/α²) ∇_w R(α h(w_j)),          t_j = j·η,
 *
 * and, for the square loss, the linearized iteration in closed form (Lee et al. 2019 §D; Hu et al. 2020):
 *
 *   r̄_j = (I − η K0)^j r0,   w̄_j − w0 = (1/α) J0ᵀ V diag((1 − (1 − ηλ)^j)/λ) Vᵀ r0
 *
 * (the sum of the geometric series; kη where λ = 0). As η → 0 both tend to the flows.
 * The linearized iteration diverges when η·λmax(K0) > 2; that is reported, not hidden.
 *
 * Per-parameter rates (`lr: { W: η1, v: η2 }`, names not given frozen) run w_{j+1} = w_j −
 * (1/α²) H ∇_w R(α h(w_j)) with H = diag(η_P): gradient descent with step 1 on the model
 * reparametrized by `withRates`, whose kernel is K0 = Dh·H·Dhᵀ (t_j = j; weight changes in the
 * metric of H⁻¹, see `ir/rates.ts`).
 */
import { ensureMemory } from '../runtime/memory.ts';
import type { Model } from '../ir/model.ts';
import { Evaluator, jacobianBlockBytes } from '../evaluator/evaluator.ts';
import { ntkFromJacobian } from '../linalg/dense.ts';
import { FlowError, type FlowPoint } from './flow.ts';
import { kernelSpectrum, LinearizedFlow } from './linearized.ts';
import { kernelName, withRates, type Rates } from '../ir/rates.ts';

/**
 * Options of `gradientDescent`: α, the learning rate η and the number of steps.
 */
export interface DescentOptions {
  alpha: number;
  /** One rate η for every weight, or rates by parameter name (the others frozen). */
  lr: number | Rates;
  steps: number;
  /** Step counts at which to report the error (the last step is always reported). */
  at?: number[];
  onProgress?: (step: number, steps: number) => void;
}

/**
 * What `gradientDescent` reports: the error between descent on α·h and on its linearization,
 * the losses, the weight changes and the stability number η·λmax.
 */
export interface DescentResult {
  alpha: number;
  /** The step size: η, or 1 with per-parameter rates (they are in the kernel). */
  lr: number;
  /** The rates by parameter (0: frozen), or null for one plain η. */
  rates: { name: string; rate: number }[] | null;
  /** The kernel of the iteration: 'Dh·Dhᵀ', or 'Dh·H·Dhᵀ with H = diag(…)'. */
  kernel: string;
  steps: number;
  /** Equivalent flow time η·N. */
  T: number;
  R0: number;
  out: Float64Array;
  linOut: Float64Array;
  error: number;
  weightChange: number;
  linWeightChange: number;
  loss: number;
  linLoss: number;
  /** η·λmax(K0): the linearized iteration contracts iff this is below 2. */
  stability: number;
  /** ‖I − η K0‖ = max_λ |1 − ηλ|: the linearized residual's contraction factor per step (> 1: it grows). */
  contraction: number;
  trajectory: FlowPoint[];
  warnings: string[];
}

const norm = (a: ArrayLike<number>) => {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * a[i]!;
  return Math.sqrt(s);
};

/**
 * The peak bytes `gradientDescent` holds besides its evaluator's buffers and its report, for k
 * outputs and p parameters: the Jacobian at w0 (k·p) while K0 = J·Jᵀ is formed, K0 and its
 * eigendecomposition (4k², LAPACK's copy and workspace included), and a few vectors of the
 * weights (w, the gradient, w − w0, the linearized shift: 8p), and the Jacobian's blocks while it
 * is computed (`jacobianBlockBytes`).
 * @example descentWorkingSet(100, 10_000) // 8·(10⁶ + 4·10⁴ + 8·10⁴) + 12·10⁶ ≈ 20.4 MB
 */
export function descentWorkingSet(k: number, p: number): number {
  return 8 * (k * p + 4 * k * k + 8 * p) + jacobianBlockBytes(k, p);
}

/**
 * N steps of gradient descent on the model and on its linearization.
 * @example gradientDescent(model, { alpha: 10, lr: 0.1, steps: 1000 }).error
 */
export function gradientDescent(model: Model, opts: DescentOptions, ev?: Evaluator): DescentResult {
  if (typeof opts.lr !== 'number') {
    const scaled = withRates(model, opts.lr);
    const r = gradientDescent(scaled, { ...opts, lr: 1 });
    // the step is 1 with the rates in the kernel: a stable step means smaller rates
    const warnings = r.warnings.map((w) => w.replace(/take η < (\S+)$/, 'multiply every rate by less than $1'));
    return { ...r, warnings, rates: scaled.rates.rates, kernel: kernelName(scaled) };
  }
  ev ??= new Evaluator(model);
  const { alpha, steps } = opts;
  const lr = opts.lr;
  if (!(Number.isFinite(lr) && lr > 0)) throw new FlowError(`the learning rate must be a positive number, got ${lr}`);
  const warnings: string[] = [];
  const ystar = ev.target();
  if (!ystar) throw new FlowError("the closed-form linearization needs the square loss: declare 'loss square(target = …)'");
  const k = ev.k, p = ev.p, w0 = model.w0;
  ensureMemory(descentWorkingSet(k, p), `gradient descent on ${k} outputs and ${p} parameters (the Jacobian at w0, K0 and its eigenvectors)`, 'fewer outputs or parameters (--set), or raise --max-memory');
  const h0 = ev.output(w0);
  const r0 = Float64Array.from(h0, (h, i) => ystar[i]! - alpha * h);
  const R0 = 0.5 * norm(r0) ** 2;
  const spectrum = kernelSpectrum(ntkFromJacobian(ev, ev.jacobian(w0)), k, ev.backend);
  const lin = new LinearizedFlow(spectrum, r0);
  const stability = lr * spectrum.values[k - 1]!;
  const contraction = Math.max(Math.abs(1 - lr * spectrum.values[0]!), Math.abs(1 - stability));
  if (stability >= 2) warnings.push(`η·λmax(K0) = ${stability.toPrecision(4)} ≥ 2: the linearized iteration diverges (‖I − ηK0‖ = ${contraction.toPrecision(4)} > 1); take η < ${(2 / spectrum.values[k - 1]!).toPrecision(4)}`);
  const J0t = ev.vjpAt(w0);
  // Linearized: the eigenvalue functions of the discrete iteration.
  const linState = (j: number) => {
    const rb = lin.apply((l) => Math.pow(1 - lr * l, j));
    const c = lin.apply((l) => (l === 0 ? j * lr : (1 - Math.pow(1 - lr * l, j)) / l));
    const shift = J0t(c).map((x) => x / alpha);
    return { rb, shift };
  };
  const report = new Set([...(opts.at ?? []).filter((j) => j > 0 && j < steps), steps]);
  const w = w0.slice();
  const trajectory: FlowPoint[] = [];
  const a2 = lr / (alpha * alpha);
  let last: { out: Float64Array; linOut: Float64Array; error: number; wc: number; lwc: number; rb: Float64Array } =
    { out: new Float64Array(k), linOut: new Float64Array(k), error: NaN, wc: NaN, lwc: NaN, rb: new Float64Array(k) };
  for (let j = 1; j <= steps; j++) {
    const { grad } = ev.grad(w, alpha);
    for (let i = 0; i < p; i++) w[i] -= a2 * grad[i]!;
    if (!Number.isFinite(grad[0]!) || !w.every(Number.isFinite))
      throw new FlowError(`gradient descent produced a non-finite weight at step ${j} (t = ${(j * lr).toPrecision(4)}): take a smaller learning rate (--lr) or a larger α`);
    opts.onProgress?.(j, steps);
    if (!report.has(j)) continue;
    const { rb, shift } = linState(j);
    const out = ev.output(w).map((x) => alpha * x);
    const linOut = rb.map((x, i) => ystar[i]! - x);
    const error = norm(out.map((x, i) => x - linOut[i]!));
    const dw = w.map((x, i) => x - w0[i]!);
    last = { out, linOut, error, wc: norm(dw), lwc: norm(shift), rb };
    trajectory.push({ t: j * lr, error, weightChange: last.wc, linWeightChange: last.lwc });
  }
  return {
    alpha, lr, rates: null, kernel: kernelName(model), steps, T: steps * lr, R0,
    out: last.out, linOut: last.linOut, error: last.error,
    weightChange: last.wc, linWeightChange: last.lwc,
    loss: 0.5 * norm(last.out.map((x, i) => ystar[i]! - x)) ** 2,
    linLoss: 0.5 * norm(last.rb) ** 2,
    stability, contraction, trajectory, warnings,
  };
}
