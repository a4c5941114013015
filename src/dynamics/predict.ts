/**
 * Predictions at held-out inputs (docs/math.md §2; Lee et al. 2019, eq. 19), for a model with a `test`
 * declaration: g(w) ∈ R^kt, the model's outputs on the test inputs, with the same weights as
 * the training outputs h(w) ∈ R^k.
 *
 * The linearized test outputs follow the linearized weights w̄(t) of `linearized.ts`:
 *
 *   ḡ(t) = g(w0) + Dg(w0)·(w̄(t) − w0)                                  (eq. 19, first form)
 *
 * and, for the square loss R(v) = ½‖v − y*‖² and the rescaled flow of `flow.ts`
 * (w̄(t) − w0 = (1/α) J0ᵀ K0⁻¹ (I − exp(−K0 t)) r0, r0 = y* − α h(w0), J0 = Dh(w0), K0 = J0 J0ᵀ),
 *
 *   α ḡ(t) = α g(w0) + Θ̂0(x, X) K0⁻¹ (I − exp(−K0 t)) r0                 (eq. 19, kernel form)
 *
 * with the cross kernel Θ̂0(x, X) = Dg(w0) Dh(w0)ᵀ (kt × k). This is Lee et al.'s
 * f_lin_t(x) = f_0(x) − Θ̂0(x,X) Θ̂0⁻¹ (I − e^{−η Θ̂0 t})(f_0(X) − Y) with f = α·h, Y = y*, and
 * η Θ̂0 = K0: the rescaled flow's time absorbs the α² of the kernel of α·h.
 *
 * The first form is what a flow uses (one JVP per time, no k×k solve, any K0); the second is
 * an independent check of it, literal to the paper (a Cholesky solve, so K0 must be positive
 * definite).
 */
import { CholeskyDecomposition, Matrix } from 'ml-matrix';
import type { Evaluator } from '../evaluator/evaluator.ts';
import { ntkFromJacobian, symmetricEigen } from '../linalg/dense.ts';

/**
 * The linearized test outputs ḡ = g(w0) + Dg(w0)·Δw ∈ R^kt for a weight change Δw ∈ R^p
 * (not multiplied by α: the flow's linearized test prediction is α·ḡ with Δw = w̄(t) − w0).
 *
 * @example
 *   // in a flow, with linShift(t) = w̄(t) − w0:
 *   const linTestOut = linearizedTestPrediction(ev, linShift(T, shift)).map((x) => alpha * x);
 */
export function linearizedTestPrediction(ev: Evaluator, deltaW: Float64Array, w0: Float64Array = ev.model.w0): Float64Array {
  const g0 = ev.testOutput(w0);
  const dg = ev.testJvp(w0, deltaW);
  for (let i = 0; i < g0.length; i++) g0[i] += dg[i]!;
  return g0;
}

/**
 * `linearizedTestPrediction` at a fixed w0 for many weight changes: g(w0) and the forward pass
 * are computed once, each call costs one tangent sweep. The returned array is fresh per call.
 *
 * @example
 *   const predict = linearizedTestPredictor(ev);
 *   const linTestOut = predict(shift).map((x) => alpha * x);   // α·ḡ(t)
 */
export function linearizedTestPredictor(ev: Evaluator, w0: Float64Array = ev.model.w0): (deltaW: Float64Array) => Float64Array {
  const g0 = ev.testOutput(w0);
  const dg = ev.testJvpAt(w0);
  return (deltaW) => {
    const d = dg(deltaW);
    const out = new Float64Array(g0.length);
    for (let i = 0; i < out.length; i++) out[i] = g0[i]! + d[i]!;
    return out;
  };
}

/** The quantities of eq. 19 at w0, as `crossKernelPrediction` takes them. */
export interface CrossKernelInputs {
  alpha: number;
  /** g(w0) ∈ R^kt. */
  g0: Float64Array;
  /** Θ̂0(x, X) = Dg(w0) Dh(w0)ᵀ, row-major kt × k. */
  crossKernel: Float64Array;
  /** K0 = Dh(w0) Dh(w0)ᵀ, row-major k × k, symmetric positive definite. */
  K0: Float64Array;
  /** r0 = y* − α h(w0) ∈ R^k. */
  r0: Float64Array;
}

/**
 * Eq. 19 in kernel form: α ḡ(t) = α g0 + Θ̂0(x, X) K0⁻¹ (I − exp(−K0 t)) r0 ∈ R^kt, with
 * I − exp(−K0 t) = V diag(−expm1(−λ t)) Vᵀ from K0's eigendecomposition and K0⁻¹ applied by a
 * Cholesky solve (so it checks the eigenbasis φ_t(λ) = (1 − e^{−λt})/λ of `linearized.ts`
 * rather than repeating it). Throws when K0 is not positive definite to working precision.
 *
 * @example
 *   // held-out inputs equal to the training inputs: Θ̂0(X, X) = K0 and eq. 19 reduces to
 *   // eq. 15, α h̄(t) = y* − exp(−K0 t) r0.
 *   const at = crossKernelPrediction({ alpha, g0, crossKernel, K0, r0 }, 10);
 */
export function crossKernelPrediction(inp: CrossKernelInputs, t: number): Float64Array {
  const { alpha, g0, crossKernel: C, K0, r0 } = inp;
  const k = r0.length, kt = g0.length;
  if (K0.length !== k * k || C.length !== kt * k) throw new Error(`crossKernelPrediction: K0 has ${K0.length} entries and Θ̂0(x, X) ${C.length}, expected ${k}×${k} and ${kt}×${k}`);
  // b = (I − exp(−K0 t)) r0 in K0's eigenbasis.
  const { values, vectors: V } = symmetricEigen(K0, k);
  const q = new Float64Array(k);
  for (let j = 0; j < k; j++) {
    let s = 0;
    for (let i = 0; i < k; i++) s += V[i * k + j]! * r0[i]!;
    q[j] = -Math.expm1(-values[j]! * t) * s;
  }
  const b = new Matrix(k, 1);
  for (let i = 0; i < k; i++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += V[i * k + j]! * q[j]!;
    b.set(i, 0, s);
  }
  // c = K0⁻¹ b.
  const K = new Matrix(k, k);
  for (let i = 0; i < k; i++) for (let j = 0; j < k; j++) K.set(i, j, K0[i * k + j]!);
  const chol = new CholeskyDecomposition(K);
  if (!chol.isPositiveDefinite())
    throw new Error('crossKernelPrediction: K0 is not positive definite to working precision (eq. 19 needs K0⁻¹); use linearizedTestPrediction, which needs no inverse');
  const c = chol.solve(b);
  const out = new Float64Array(kt);
  for (let i = 0; i < kt; i++) {
    let s = alpha * g0[i]!;
    for (let a = 0; a < k; a++) s += C[i * k + a]! * c.get(a, 0);
    out[i] = s;
  }
  return out;
}

/**
 * Everything eq. 19 needs, from a model with a `test` declaration and the square loss, at w0:
 * g0, Θ̂0(x, X), K0 and r0 = y* − α h(w0) (each Jacobian computed once).
 * @example const inp = crossKernelInputs(ev, 10); crossKernelPrediction(inp, T)
 */
export function crossKernelInputs(ev: Evaluator, alpha: number, w0: Float64Array = ev.model.w0): CrossKernelInputs {
  const ystar = ev.target();
  if (!ystar) throw new Error("eq. 19 needs the square loss: declare 'loss square(target = …)'");
  const h0 = ev.output(w0);
  const r0 = new Float64Array(ev.k);
  for (let i = 0; i < ev.k; i++) r0[i] = ystar[i]! - alpha * h0[i]!;
  const J0 = ev.jacobian(w0);
  return {
    alpha,
    g0: ev.testOutput(w0),
    crossKernel: ev.crossKernel(w0, { jacobian: J0 }),
    K0: ntkFromJacobian(ev, J0),
    r0,
  };
}
