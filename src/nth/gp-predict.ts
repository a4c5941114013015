/**
 * Predictions of the trained infinite network at test inputs (MATH.md §5, seed 003 eqs. 25–30,
 * 44–45), and the finite-width ensemble they are the limit of (eq. 19 over initializations,
 * Corollary 1).
 *
 * Under gradient flow on the square loss ½‖f − y‖² (η = 1), with Θ the train kernel,
 *   A_t = Θ(x, X) Θ⁻¹ (I − e^{−Θ t}),   mean = A_t y,
 *   cov = 𝒦(x, x) − A_t 𝒦(X, x) − 𝒦(x, X) A_tᵀ + A_t 𝒦(X, X) A_tᵀ          (eqs. 27–28)
 * and at t = ∞ A = Θ(x, X) Θ⁻¹ (eqs. 29–30). Training the readout only is the same with Θ
 * replaced by 𝒦 (eqs. 44–45); at t = ∞ that is the NNGP posterior 𝒦(x,X)𝒦⁻¹y,
 * 𝒦(x,x) − 𝒦(x,X)𝒦⁻¹𝒦(X,x) (eqs. 25–26; eq. 26 as printed in the seed has a typo).
 *
 * Θ⁻¹(I − e^{−Θt}) is V diag(φ_t(λ)) Vᵀ with φ_t(λ) = −expm1(−λt)/λ (→ t as λ → 0), so a finite
 * t needs no inverse. At t = ∞ eigenvalues below 1e-13·λ_max are dropped (a pseudo-inverse: the
 * flow never moves along them) and the report warns, offering `ridge` (Θ + λI).
 *
 * @example
 *   const lim = limitKernels(model, { width: ['m'] });
 *   const p = gpPredict(lim, targets(model), { t: Infinity });   // p.mean, p.cov
 */
import type { Model } from '../ir/model.ts';
import { Evaluator, jacobianBlockBytes } from '../evaluator/evaluator.ts';
import { crossKernelInputs, crossKernelPrediction } from '../dynamics/predict.ts';
import { symmetricEigen } from '../linalg/dense.ts';
import { NtkError } from '../parser/diagnostics.ts';
import type { DenseMatrix, LimitDense, LimitReport } from './limit.ts';
import { defaultBackend } from '../runtime/backends.ts';
import { withRates, kernelName, ratesFor, RateError, type Rates } from '../ir/rates.ts';

/** What `gpPredict` computes: at which training time t, with which kernel (Θ or 𝒦), and a ridge. */
export interface GpPredictOptions {
  /** Training time; Infinity for the converged network. */
  t: number;
  /** 'ntk' (all layers trained: the NTK-GP, default) or 'nngp' (readout only). */
  kernel?: 'ntk' | 'nngp';
  /** Added to the train kernel's diagonal (default 0). */
  ridge?: number;
  /** Variances only (no test × test covariance matrix). */
  diag?: boolean;
  /**
   * A common learning rate η of the flow dw/dt = −η∇L (default 1): the kernel becomes ηΘ, i.e.
   * the time ηt (`commonRate` turns `--lr` into it).
   */
  lr?: number;
}

/**
 * `gpPredict`'s report (the JSON of `ntk limit --predict`): the mean A_t y and covariance of eqs.
 * 27–28 (or 44–45) at the test outputs, and how well-conditioned the train kernel was.
 */
export interface GpPrediction {
  t: number | 'inf';
  kernel: 'ntk' | 'nngp';
  /** The common learning rate (1 unless given). */
  lr: number;
  /** Mean at the test outputs (test inputs × outputs, grouped per input). */
  mean: number[];
  /** Covariance of the test outputs; null with `diag`. */
  cov: number[][] | null;
  variance: number[];
  /** λ_max/λ_min of the train kernel actually used (with the ridge); Infinity when λ_min ≤ 0. */
  condition: number;
  ridge: number;
  /** Eigenvalues dropped at t = ∞ (below 1e-13·λ_max). */
  dropped: number;
  warning?: string;
}

/**
 * The square loss's target y* on the training outputs, flattened; throws a located error for
 * another loss (the closed forms need the square loss).
 * @example squareTargets(parseModel('param w = 0\nmodel h = w\nloss square(target = 0.5)')) // Float64Array [0.5]
 */
export function squareTargets(model: Model): Float64Array {
  if (!model.loss || model.loss.kind !== 'square')
    throw new NtkError([{
      severity: 'error', file: model.file, span: model.loss?.span ?? null,
      message: "predictions of the trained infinite network need the square loss ½‖f − y‖²: declare 'loss square(target = y)'",
    }]);
  const y = new Evaluator(model).target()!;
  for (let i = 0; i < y.length; i++)
    if (!Number.isFinite(y[i]!))
      throw new NtkError([{ severity: 'error', file: model.file, span: model.loss.span, message: `the target holds ${y[i]} at entry ${i}: data must be finite` }]);
  return y;
}

/** A kernel as one row-major Float64Array: a dense one's own array (read only) unless `copy`. */
const flat = (M: number[][] | DenseMatrix, copy = false): Float64Array =>
  Array.isArray(M) ? Float64Array.from(M.flat()) : copy ? M.data.slice() : M.data;
const rowsOf = (M: number[][] | DenseMatrix): number => (Array.isArray(M) ? M.length : M.rows);

/**
 * The peak bytes `gpPredict` holds besides the limit kernels it reads and the prediction it
 * returns, for n training and nt test outputs: the train kernel copied (n²) and its
 * eigendecomposition (the vectors, LAPACK's copy and workspace ≈ 1 + 2n² values: 3n²), 𝒦(X, X)
 * copied (n²), five nt × n arrays (the cross kernels copied, Θx·V·φ, A, D = A·𝒦 − 𝒦x) and, for
 * the covariance (not with `diag`), the test × test block copied and the two nt × nt products.
 * The copies are those of nested kernels (`limitKernels`); dense ones (`limitKernelsDense`, what
 * `ntk predict` passes) are read in place but the train kernel, so the bound is then generous.
 * @example gpPredictWorkingSet(1000, 200, true) // 8·(5·10⁶ + 5·2·10⁵ + 200) bytes ≈ 46 MB
 */
export function gpPredictWorkingSet(n: number, nt: number, diag: boolean): number {
  return 8 * (5 * n * n + 5 * nt * n + (diag ? nt : 3 * nt * nt));
}

/**
 * The peak bytes `ensemblePredict` holds for one seed besides its model and its evaluator's own
 * buffers (which the evaluator checks), for k training and kt test outputs and p parameters:
 * the Jacobians at the training and the test inputs (k·p, kt·p), the cross kernel (kt·k), K0 and
 * its eigendecomposition (4k²), ml-matrix's copy of K0 and its Cholesky factor (2k²) — and the
 * seeds' predictions kept so far (seeds·kt), and a Jacobian's blocks (`jacobianBlockBytes`).
 * @example ensembleWorkingSet(100, 20, 10_000, 16) // ≈ 9.8 MB: the Jacobians dominate
 */
export function ensembleWorkingSet(k: number, kt: number, p: number, seeds: number): number {
  return 8 * (k * p + kt * p + kt * k + 6 * k * k + seeds * kt) + jacobianBlockBytes(Math.max(k, kt), p);
}

/**
 * Mean and covariance of the trained infinite network at the test inputs (see the module comment).
 * @example gpPredict(limitKernels(model, { width: ['m'] }), squareTargets(model), { t: 10 })
 */
export function gpPredict(lim: LimitReport | LimitDense, y: Float64Array, opts: GpPredictOptions): GpPrediction {
  const kind = opts.kernel ?? 'ntk';
  const K = kind === 'ntk' ? lim.ntk : lim.nngp;
  const Kx = kind === 'ntk' ? lim.ntkCross : lim.nngpCross;
  if (!K) throw new NtkError([{ severity: 'error', file: '--kernel', span: null, message: `the ${kind.toUpperCase()} has no finite limit here (${kind === 'ntk' ? lim.ntkNote ?? `growth m^${lim.ntkGrowth}` : `growth m^${lim.nngpGrowth}`}): no ${kind} predictions` }]);
  const testDiag = lim.nngpTest ? null : lim.nngpTestDiag;
  if (!Kx || !lim.nngpCross || !(lim.nngpTest || testDiag) || !lim.nngp)
    throw new NtkError([{ severity: 'error', file: '--width', span: null, message: "predictions need test inputs: declare 'test NAME = f(Xt)' with the model's function on them" }]);
  const n = rowsOf(K), nt = rowsOf(Kx), ridge = opts.ridge ?? 0;
  if (y.length !== n) throw new Error(`internal: ${y.length} targets for ${n} training outputs`);
  const Km = flat(K, true); // the ridge is added in place
  for (let i = 0; i < n; i++) Km[i * n + i]! += ridge;
  const { values, vectors: V } = symmetricEigen(Km, n);
  const lmax = values[n - 1]!, lmin = values[0]!;
  const condition = lmin > 0 ? lmax / lmin : Infinity;
  const lr = opts.lr ?? 1;
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RateError(`--lr ${lr}: expected a positive finite rate`);
  // the flow with rate η is the flow with rate 1 at time ηt (A_t = Θx(ηΘ)⁻¹(I − e^{−ηΘt})·η)
  const t = opts.t * lr;
  const cut = 1e-13 * Math.abs(lmax);
  let dropped = 0;
  const phi = Float64Array.from(values, (l) => {
    if (t === Infinity) {
      if (l <= cut) { dropped++; return 0; }
      return 1 / l;
    }
    return l === 0 ? t : -Math.expm1(-l * t) / l;
  });
  // M = V diag(φ) Vᵀ; A = Kx M (nt × n): two gemms (V's columns are the eigenvectors)
  const be = defaultBackend();
  const Kxm = flat(Kx);
  const KxV = new Float64Array(nt * n);
  be.gemm(false, false, nt, n, n, 1, Kxm, 0, n, V, 0, n, 0, KxV, 0, n);
  for (let i = 0; i < nt; i++) for (let j = 0; j < n; j++) KxV[i * n + j]! *= phi[j]!;
  const A = new Float64Array(nt * n);
  be.gemm(false, true, nt, n, n, 1, KxV, 0, n, V, 0, n, 0, A, 0, n);
  const mean = new Array<number>(nt).fill(0);
  for (let i = 0; i < nt; i++) for (let a = 0; a < n; a++) mean[i]! += A[i * n + a]! * y[a]!;
  // cov = Kxx − A KXx − KxX Aᵀ + A KXX Aᵀ (the NNGP blocks) = Kxx + D Aᵀ − (A Kcᵀ), D = A·KXX − Kc
  // the test × test block, or its diagonal alone (limitKernels' testDiag: many test inputs)
  if (!lim.nngpTest && !opts.diag) throw new Error('internal: a covariance needs the test × test block (limitKernels without testDiag)');
  const Ktt = lim.nngpTest ? flat(lim.nngpTest) : null, Kdiag = testDiag ? Float64Array.from(testDiag) : null;
  const Kc = flat(lim.nngpCross), KXX = flat(lim.nngp);
  const D = Kc.slice(); // A·𝒦(X,X) − 𝒦(x,X)
  be.gemm(false, false, nt, n, n, 1, A, 0, n, KXX, 0, n, -1, D, 0, n);
  // entry (i, i): the rows' dot products, D_i·A_i − A_i·Kc_i
  const variance = Array.from({ length: nt }, (_, i) => {
    let s = Ktt ? Ktt[i * nt + i]! : Kdiag![i]!;
    for (let a = 0; a < n; a++) s += (D[i * n + a]! - Kc[i * n + a]!) * A[i * n + a]!;
    return s;
  });
  let cov: number[][] | null = null;
  if (!opts.diag) {
    const C = new Float64Array(nt * nt), AKc = new Float64Array(nt * nt);
    be.gemm(false, true, nt, nt, n, 1, D, 0, n, A, 0, n, 0, C, 0, nt);
    be.gemm(false, true, nt, nt, n, 1, A, 0, n, Kc, 0, n, 0, AKc, 0, nt);
    // symmetric in exact arithmetic: the two rounded halves averaged, the diagonal as computed above
    cov = Array.from({ length: nt }, (_, i) => Array.from({ length: nt }, (_, j) => {
      if (i === j) return variance[i]!;
      const x = Ktt![i * nt + j]! + C[i * nt + j]! - AKc[i * nt + j]!, y2 = Ktt![j * nt + i]! + C[j * nt + i]! - AKc[j * nt + i]!;
      return 0.5 * (x + y2);
    }));
  }
  const out: GpPrediction = { t: t === Infinity ? 'inf' : opts.t, kernel: kind, lr, mean, cov, variance, condition, ridge, dropped };
  if (!(condition < 1e10) || dropped > 0)
    out.warning = `the train ${kind.toUpperCase()} is ill-conditioned (condition number ${condition === Infinity ? '∞' : condition.toExponential(2)}${dropped ? `, ${dropped} eigenvalue${dropped > 1 ? 's' : ''} below 1e-13·λ_max dropped` : ''}): the prediction is sensitive to rounding; try --ridge λ (e.g. --ridge ${(Math.abs(lmax) * 1e-8).toExponential(0)}) or a finite --T`;
  return out;
}

/** What `ensemblePredict` averages over: N = `seeds` initializations, each elaborated by `modelAt(s)`, trained to time t. */
export interface EnsembleOptions {
  t: number;
  seeds: number;
  /** Elaborate the model at seed s (the caller's overrides and data). */
  modelAt: (seed: number) => Model;
  /**
   * Learning rates of the flow dw/dt = −H∇L: one η for every parameter, or rates by name (the
   * others frozen). Each seed's model goes through `withRates`, so eq. 19 runs on the NTK
   * Dh·H·Dhᵀ (readout only: Φ Φᵀ/m, the empirical NNGP-type kernel). Default: H = I.
   */
  lr?: number | Rates;
}

/**
 * `ensemblePredict`'s report: the mean and empirical covariance (divisor N − 1) over the seeds of
 * eq. 19's prediction, and each seed's; compare with `gpPredict`'s mean and cov.
 */
export interface EnsemblePrediction {

  t: number | 'inf';
  seeds: number;
  /** Mean over seeds of eq. 19's linearized prediction at the test outputs. */
  mean: number[];
  /** Empirical covariance over seeds (divisor N − 1). */
  cov: number[][];
  variance: number[];
  /** Each seed's prediction. */
  predictions: number[][];
  /** The kernel of the flow: 'Dh·Dhᵀ', or 'Dh·H·Dhᵀ with H = diag(…)' with rates. */
  kernel: string;
}

/**
 * The single rate η of `lr` when every parameter of the model trains at it (the infinite-width
 * prediction then runs on ηΘ); per-parameter rates that differ, or freeze a parameter, are a
 * RateError there: the limit kernels are derived for H = ηI (use the finite-width ensemble, whose
 * NTK is Dh·H·Dhᵀ, or `kernel: 'nngp'` for readout-only training).
 * @example commonRate(model, new Map([['W', 0.5], ['v', 0.5]])) // 0.5
 */
export function commonRate(model: Model, lr: number | Rates): number {
  const r = ratesFor(model, lr);
  withRates(model, r); // names, values
  const given = r instanceof Map ? r : new Map(Object.entries(r));
  const values = model.params.map((q) => given.get(q.name) ?? 0);
  if (values.some((v) => v !== values[0]))
    throw new RateError(`--lr: the infinite-width prediction takes one rate for all parameters (H = ηI); got ${model.params.map((q, i) => `${q.name}: ${values[i] === 0 ? '0 (frozen)' : values[i]}`).join(', ')}. Use --seeds N (the finite-width ensemble, on Dh·H·Dhᵀ), or --kernel nngp for readout-only training`);
  return values[0]!;
}

/**
 * The finite-width ensemble: eq. 19's prediction f_lin_t(x) = f_0(x) − Θ̂(x,X)Θ̂⁻¹(I − e^{−Θ̂t})
 * (f_0(X) − y) for N initializations, with its mean and empirical covariance; as the width
 * grows it converges to the NTK-GP (Corollary 1). With `lr` the flow is dw/dt = −H∇L and Θ̂ is
 * Dh·H·Dhᵀ (H diagonal; frozen parameters contribute nothing).
 * @example ensemblePredict({ t: Infinity, seeds: 16, modelAt: (s) => loadModel(file, { seed: s }) })
 * @example ensemblePredict({ t: 10, seeds: 8, lr: { v: 1 }, modelAt })   // readout only: Θ̂ = ΦΦᵀ/m
 */
export function ensemblePredict(opts: EnsembleOptions): EnsemblePrediction {
  const preds: Float64Array[] = [];
  let kernel = 'Dh·Dhᵀ';
  for (let s = 0; s < opts.seeds; s++) {
    const plain = opts.modelAt(s);
    const m = opts.lr === undefined ? plain : withRates(plain, ratesFor(plain, opts.lr));
    kernel = kernelName(m);
    squareTargets(m);
    if (!m.test) throw new NtkError([{ severity: 'error', file: m.file, span: null, message: "predictions need test inputs: declare 'test NAME = f(Xt)'" }]);
    const ev = new Evaluator(m);
    preds.push(crossKernelPrediction(crossKernelInputs(ev, 1), opts.t));
  }
  const N = preds.length, kt = preds[0]!.length;
  const mean = new Array<number>(kt).fill(0);
  for (const p of preds) for (let i = 0; i < kt; i++) mean[i]! += p[i]! / N;
  const cov = Array.from({ length: kt }, (_, i) => Array.from({ length: kt }, (_, j) => {
    let s = 0;
    for (const p of preds) s += (p[i]! - mean[i]!) * (p[j]! - mean[j]!);
    return N > 1 ? s / (N - 1) : 0;
  }));
  return { t: opts.t === Infinity ? 'inf' : opts.t, seeds: N, mean, cov, variance: cov.map((r, i) => r[i]!), predictions: preds.map((p) => Array.from(p)), kernel };
}
